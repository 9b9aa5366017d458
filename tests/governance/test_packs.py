"""Rule packs are refused whole, with every problem and its line, before anything runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from courtyard.governance.engine import CompiledPolicy
from courtyard.governance.model import EventKind, Mode, Severity, Verdict
from courtyard.governance.packs import PackError, parse_pack
from courtyard.governance.service import BUILTIN_PACKS_DIR

GOOD = """\
[pack]
id = "demo"
title = "Demo"

[lists.offplatform]
category = "spam"
entries = ["加微信", "add me on telegram"]

[[rules]]
id = "demo.offplatform"
events = ["message", "comment"]
when = "lists.offplatform.hit && author.account_age_days < 7"
action = "label"
label = "offplatform_contact"
severity = "low"
policy = "guidelines#spam"
reason = { en = "Asks to move to another app.", zh = "要求转到其他应用。" }

[rules.examples]
match = [{ text = "加微信 abc", author = { account_age_days = 1 } }]
no_match = ["hello"]
"""
EXAMPLES = """
[rules.examples]
match = [{ text = "加微信 abc", author = { account_age_days = 1 } }]
no_match = ["hello"]
"""


def refused(source: str, *, base_dir: Path | None = None) -> PackError:
    def load() -> None:
        CompiledPolicy([parse_pack(source, source_name="demo.toml", base_dir=base_dir)])

    with pytest.raises(PackError) as caught:
        load()
    return caught.value


def problem_lines(error: PackError) -> list[tuple[int | None, str]]:
    return [(problem.line, problem.message) for problem in error.problems]


def test_a_good_pack_loads_with_its_rule_and_list() -> None:
    pack = parse_pack(GOOD, source_name="demo.toml")
    assert pack.id == "demo"
    [rule] = pack.rules
    assert (rule.id, rule.action, rule.severity, rule.mode) == (
        "demo.offplatform",
        Verdict.LABEL,
        Severity.LOW,
        Mode.ENFORCE,
    )
    assert rule.events == (EventKind.MESSAGE, EventKind.COMMENT)
    assert rule.when_line == 12
    [signal] = pack.signals
    assert (signal.name, signal.family, signal.entries) == (
        "offplatform",
        "lists",
        ("加微信", "add me on telegram"),
    )
    assert len(CompiledPolicy([pack]).rules) == 1


def test_toml_syntax_errors_give_the_line() -> None:
    error = refused(GOOD.replace('title = "Demo"', 'title = "Demo'))
    assert error.problems[0].line == 3
    assert "not valid TOML" in error.problems[0].message


def test_unknown_fields_are_refused_at_their_lines() -> None:
    source = GOOD.replace('severity = "low"', 'severity = "low"\nseverity_level = 3').replace(
        'category = "spam"', 'category = "spam"\ncolour = "red"'
    )
    lines = problem_lines(refused(source))
    assert (7, "unknown field lists.offplatform.colour") in lines
    assert (17, "unknown rule field 'severity_level'") in lines


def test_every_problem_is_reported_at_once() -> None:
    source = GOOD.replace('action = "label"', 'action = "explode"').replace(
        'events = ["message", "comment"]', 'events = ["message", "telegram"]'
    )
    messages = [message for _, message in problem_lines(refused(source))]
    assert any("unknown event kind 'telegram'" in message for message in messages)
    assert any("action must be one of" in message for message in messages)


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        ("lists.nothing.hit", "unknown signal lists.nothing"),
        ("author.age > 3", "unknown field author.age"),
        ("lists.offplatform.hits", "unknown field lists.offplatform.hits"),
        ("weather.today == 'rain'", "unknown variable 'weather'"),
        ('author.account_age_days > "7"', "type error"),
        ("text + 1 > 2", "type error"),
        ("lists.offplatform.count", "must be true or false"),
        ("lists.offplatform.hit &&", "not a valid CEL expression"),
        ('lists["offplatform"].hit', "instead of indexing"),
    ],
)
def test_conditions_are_checked_before_they_run(when: str, expected: str) -> None:
    source = GOOD.replace(
        'when = "lists.offplatform.hit && author.account_age_days < 7"', f'when = """{when}"""'
    )
    [(line, message)] = problem_lines(refused(source))
    assert line == 12
    assert message.startswith("demo.offplatform: when: ")
    assert expected in message


def test_a_pack_whose_examples_fail_is_refused() -> None:
    source = GOOD.replace('no_match = ["hello"]', 'no_match = ["加微信 吧"]').replace(
        "account_age_days = 1 } }]", "account_age_days = 30 } }]"
    )
    messages = [message for _, message in problem_lines(refused(source))]
    assert any("must match but does not" in m and "加微信 abc" in m for m in messages)
    # "加微信 吧" with no author facts: age 0 < 7, so it does match, and it must not.
    assert any("must not match but does" in m and "加微信 吧" in m for m in messages)


def test_reasons_in_both_languages_policy_clause_and_an_example_are_required() -> None:
    reason = 'reason = { en = "Asks to move to another app.", zh = "要求转到其他应用。" }'
    source = (
        GOOD.replace(reason, 'reason = { en = "Why." }')
        .replace('policy = "guidelines#spam"\n', "")
        .replace(EXAMPLES, "")
    )
    messages = " | ".join(message for _, message in problem_lines(refused(source)))
    assert "reason = { en" in messages
    assert "policy (the public policy clause) is required" in messages
    assert "at least one example that must match" in messages


def test_rule_ids_belong_to_their_pack_and_are_unique() -> None:
    second = GOOD[GOOD.index("[[rules]]") :]
    source = GOOD + "\n" + second
    messages = [message for _, message in problem_lines(refused(source))]
    assert "duplicate rule id 'demo.offplatform'" in messages
    other = GOOD.replace('id = "demo.offplatform"', 'id = "other.offplatform"')
    messages = [message for _, message in problem_lines(refused(other))]
    assert any("must start with the pack id demo." in message for message in messages)


def test_big_lists_are_read_from_a_file_beside_the_pack(tmp_path: Path) -> None:
    (tmp_path / "words.txt").write_text("# scam words\n刷单\nfree money  # comment\n\n", "utf-8")
    source = GOOD.replace('entries = ["加微信", "add me on telegram"]', 'file = "words.txt"')
    source = source.replace("加微信 abc", "刷单 abc").replace('"hello"', '"free lunch"')
    pack = parse_pack(source, source_name="demo.toml", base_dir=tmp_path)
    assert pack.signals[0].entries == ("刷单", "free money")
    CompiledPolicy([pack])
    escaping = source.replace('file = "words.txt"', 'file = "../secrets.txt"')
    messages = [message for _, message in problem_lines(refused(escaping, base_dir=tmp_path))]
    assert "lists.offplatform.file must stay inside the policy directory" in messages


def test_an_invalid_regex_names_its_list() -> None:
    source = GOOD.replace(
        '[lists.offplatform]\ncategory = "spam"',
        '[lists.bad_regex]\ntype = "regex"\nentries = ["(unclosed"]\n\n'
        '[lists.offplatform]\ncategory = "spam"',
    )
    lines = problem_lines(refused(source))
    assert lines[0][0] == 5
    assert lines[0][1].startswith("lists.bad_regex: ")


def test_the_default_packs_load_and_their_examples_pass() -> None:
    packs = [
        parse_pack(path.read_text("utf-8"), source_name=path.name, base_dir=path.parent)
        for path in sorted(BUILTIN_PACKS_DIR.glob("*.toml"))
    ]
    assert {pack.id for pack in packs} == {"spam_scams", "forwarding", "personal_data", "abuse"}
    policy = CompiledPolicy(packs)
    assert len(policy.rules) >= 10
    # No political keyword list ships: every list says what it is for.
    for pack in packs:
        for signal in pack.signals:
            assert signal.category in {
                "spam",
                "scam",
                "impersonation",
                "violent_threat",
            }, signal
