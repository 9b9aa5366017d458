"""Every way a pack can be wrong is refused with a PackError naming the problem and its line,
never another exception: an operator's typo must not take the policy console (or a node's
start) down."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from courtyard.governance.engine import CompiledPolicy
from courtyard.governance.packs import PackError, parse_pack

BASE = """\
[pack]
id = "demo"

[lists.words]
category = "spam"
entries = ["刷单", "free money"]

[lists.codes]
type = "regex"
entries = ['\\bORD-\\d{4}\\b']

[lists.sites]
type = "domains"
entries = ["scam.example"]

[[rules]]
id = "demo.words"
events = ["message"]
when = "lists.words.hit"
action = "label"
label = "spam"
policy = "p#1"
reason = { en = "Spam.", zh = "垃圾信息。" }
examples = { match = ["free money"], no_match = ["hello"] }
"""


def refusal(source: str) -> str:
    with pytest.raises(PackError) as caught:
        CompiledPolicy([parse_pack(source, source_name="demo.toml")])
    return caught.value.render()


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ('id = "demo"\n', 'id = "Demo Pack"\n', "pack.id must be lowercase"),
        ('id = "demo"\n', 'id = "demo"\nversion = "two"\n', "pack.version is an integer"),
        ('id = "demo"\n', 'id = "demo"\nowner = "me"\n', "unknown field pack.owner"),
        ("[pack]\n", "[pak]\n", "unknown section 'pak'"),
        ('[pack]\nid = "demo"\n', "", "missing [pack] section"),
        ("[lists.words]", "[lists.Words]", "list name 'Words'"),
        ('type = "regex"', 'type = "glob"', "lists.codes.type must be one of"),
        ('entries = ["刷单", "free money"]', "entries = [1, 2]", "lists.words.entries: strings"),
        ('entries = ["刷单", "free money"]', 'entries = ["刷单"]\ncombos = [["a"]]', "combos"),
        ('entries = ["刷单", "free money"]', 'entries = ["刷单"]\ncombos = "a"', "combos"),
        ('entries = ["刷单", "free money"]', 'entries = ["刷单"]\nexceptions = [3]', "exceptions"),
        ('category = "spam"', 'category = "spam"\nprojections = ["sound"]', "projections"),
        ('type = "regex"', 'type = "regex"\nflags = "q"', "flags: letters i, s, m"),
        ('type = "domains"', 'type = "domains"\nmax_distance = 99', "max_distance"),
        ('category = "spam"', "category = 5", "lists.words.category: a string"),
        ('category = "spam"', 'category = "spam"\nconfidential = "yes"', "confidential"),
        ('entries = ["刷单", "free money"]', "entries = []", "lists.words has no entries"),
        ('category = "spam"', 'category = "spam"\nfile = "words.txt"', "needs a path"),
        ("[lists.words]\n", "[lists.words]\nx = 1\n", "unknown field lists.words.x"),
        ('[lists.sites]\ntype = "domains"', "[lists]\nsites = 3\n[x]", "unknown section"),
        ('id = "demo.words"', 'id = "DEMO words"', "rule id missing or invalid"),
        ('events = ["message"]', "events = []", "events is required"),
        ('when = "lists.words.hit"', 'when = ""', "when is required"),
        ('action = "label"', 'action = "allow"', "a rule whose action is allow does nothing"),
        ('action = "label"', 'action = "label"\nseverity = "extreme"', "severity must be one of"),
        ('action = "label"', 'action = "label"\nmode = "loud"', "mode must be one of"),
        ('label = "spam"', 'label = "Spam Label"', "label is a short code"),
        ('label = "spam"\n', "", "a label rule needs label"),
        ('reason = { en = "Spam.", zh = "垃圾信息。" }', 'reason = "Spam."', "both required"),
        ('reason = { en = "Spam.", zh = "垃圾信息。" }', 'reason = { en = "x", zh = "" }', "both"),
        (
            'examples = { match = ["free money"], no_match = ["hello"] }',
            'examples = "x"',
            "examples = {",
        ),
        (
            'examples = { match = ["free money"], no_match = ["hello"] }',
            'examples = { match = "x" }',
            "examples.match must be a list",
        ),
        (
            'examples = { match = ["free money"], no_match = ["hello"] }',
            "examples = { match = [3] }",
            "a string or a table with text",
        ),
        (
            'examples = { match = ["free money"], no_match = ["hello"] }',
            'examples = { match = [{ text = "x", colour = {} }] }',
            "example fields are tables",
        ),
        (
            'examples = { match = ["free money"], no_match = ["hello"] }',
            "examples = { match = [] }",
            "at least one example",
        ),
        ('id = "demo.words"', 'id = "demo.words"\npriority = 1', "unknown rule field 'priority'"),
        ("[[rules]]\n", "rules = 3\n[x]\n", "unknown section"),
        ("ORD-", "(a+)+ORD-", "lists.codes"),
        ('entries = ["scam.example"]', 'entries = ["not a domain!"]', "lists.sites"),
    ],
)
def test_each_mistake_is_named_at_its_line(old: str, new: str, expected: str) -> None:
    assert old in BASE, old
    message = refusal(BASE.replace(old, new, 1))
    assert expected in message, message
    assert "demo.toml" in message


def test_rules_as_a_table_instead_of_an_array() -> None:
    source = BASE[: BASE.index("[[rules]]")] + "[rules]\nid = 1\n"
    assert "rules must be an array" in refusal(source)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.data(),
    cuts=st.lists(st.integers(0, 40), max_size=3),
)
def test_a_damaged_pack_is_refused_cleanly_or_loads(data: st.DataObject, cuts: list[int]) -> None:
    """Delete, duplicate or garble lines of a good pack: the loader either accepts the result
    or raises PackError, never anything else."""
    lines = BASE.splitlines()
    for cut in cuts:
        if not lines:
            break
        index = cut % len(lines)
        action = data.draw(st.sampled_from(["delete", "duplicate", "garble", "truncate"]))
        if action == "delete":
            del lines[index]
        elif action == "duplicate":
            lines.insert(index, lines[index])
        elif action == "garble":
            junk = data.draw(st.text(alphabet="abc=[]{}\"'., 0123456789\\", max_size=12))
            lines[index] = lines[index][: len(lines[index]) // 2] + junk
        else:
            lines[index] = lines[index][: len(lines[index]) // 2]
    source = "\n".join(lines) + "\n"
    problems: tuple[object, ...] = ()
    try:
        CompiledPolicy([parse_pack(source, source_name="demo.toml")])
    except PackError as error:
        problems = error.problems
        messages = [problem.message for problem in error.problems]
        assert problems
        assert all(messages)
