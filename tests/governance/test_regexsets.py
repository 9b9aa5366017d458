"""Operator regex sets: hits are exact, bad or dangerous patterns are refused with a reason."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from courtyard.governance.regexsets import RegexHit, RegexMatcher, RegexSet


def test_hits_from_every_pattern_in_order() -> None:
    matcher = RegexMatcher(
        [
            RegexSet("wechat-ids", (r"vx\s*[:：]?\s*[a-z][\w-]{5,19}", r"加\s*微\s*信")),
            RegexSet("prices", (r"\d+\s*元",), flags=""),
        ]
    )
    text = "VX: abc_12345 或者加微信，只要 99 元"
    hits = matcher.match(text)
    assert [(h.set_name, h.matched) for h in hits] == [
        ("wechat-ids", "VX: abc_12345"),
        ("wechat-ids", "加微信"),
        ("prices", "99 元"),
    ]
    for h in hits:
        assert text[h.start : h.end] == h.matched
    assert matcher.match("nothing here") == []
    assert [h.set_name for h in matcher.match(text, sets=["prices"])] == ["prices"]
    with pytest.raises(ValueError, match="unknown regex sets"):
        matcher.match(text, sets=["nope"])


def test_flags() -> None:
    text = "Hello\nWORLD"
    assert RegexMatcher([RegexSet("s", ("world",), flags="")]).match(text) == []
    assert len(RegexMatcher([RegexSet("s", ("world",))]).match(text)) == 1
    assert len(RegexMatcher([RegexSet("s", ("hello.world",), flags="is")]).match(text)) == 1
    assert len(RegexMatcher([RegexSet("s", ("^world$",), flags="im")]).match(text)) == 1
    with pytest.raises(ValueError, match="unknown flag 'x'"):
        RegexMatcher([RegexSet("s", ("a",), flags="ix")])


def test_backreferences_named_groups_and_inline_flags_keep_their_meaning() -> None:
    matcher = RegexMatcher(
        [RegexSet("s", (r"(x)y", r"(a)\1", r"(?P<w>b)(?P=w)", "(?i)CC"), flags="")]
    )
    assert [h.matched for h in matcher.match("xy aa bb cc ab")] == ["xy", "aa", "bb", "cc"]


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("(a", r"pattern 1 \('\(a'\): missing \), unterminated subpattern at position 0"),
        ("ab[", r"pattern 1 .*unterminated character set at position 2"),
        ("a*", "can match the empty string"),
        (r"\b", "can match the empty string"),
        ("(?=x)", "can match the empty string"),
        ("x|", "can match the empty string"),
        ("(a+)+", "nests an unbounded repeat"),
        (r"(\w+\s?)*x", "nests an unbounded repeat"),
        ("((a+))+b", "nests an unbounded repeat"),
        ("(?:x|y+)+z", "nests an unbounded repeat"),
    ],
)
def test_bad_patterns_are_refused_with_set_index_and_reason(pattern: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        RegexMatcher([RegexSet("spam", ("ok", pattern))])
    assert "regex set 'spam'" in str(info.value)


@pytest.mark.parametrize(
    "pattern", [r"(\w+\s)+", r"(?:\d{3}-)+\d", "(?>a+)+", "a++b", r"(ab+c)+", r"\d{1,3}(\.\d+)*"]
)
def test_reasonable_nested_patterns_are_accepted(pattern: str) -> None:
    RegexMatcher([RegexSet("s", (pattern,))])


def test_set_rules() -> None:
    with pytest.raises(ValueError, match="no patterns"):
        RegexMatcher([RegexSet("empty", ())])
    with pytest.raises(ValueError, match="duplicate"):
        RegexMatcher([RegexSet("a", ("x",)), RegexSet("a", ("y",))])


words = st.text("abcxyz ", min_size=0, max_size=40)


@given(words, st.lists(st.text("abcxyz", min_size=1, max_size=3), min_size=1, max_size=4))
def test_same_hits_as_plain_finditer(text: str, literals: list[str]) -> None:
    import re

    matcher = RegexMatcher([RegexSet("s", tuple(literals))])
    expected = sorted(
        (
            RegexHit("s", p, m.start(), m.end(), m.group())
            for p in literals
            for m in re.finditer(p, text, re.IGNORECASE)
        ),
        key=lambda h: h.start,
    )
    assert sorted(matcher.match(text), key=lambda h: (h.start, h.pattern)) == sorted(
        expected, key=lambda h: (h.start, h.pattern)
    )


def test_no_hit_fast_path_is_cheap() -> None:
    matcher = RegexMatcher([RegexSet("s", tuple(f"word{i}\\d+" for i in range(50)))])
    text = "今天晚上一起吃饭吗？我们在老地方见，不见不散哦～好的好的"
    start = time.perf_counter()
    for _ in range(2000):
        matcher.match(text)
    per_call = (time.perf_counter() - start) / 2000
    assert per_call < 100e-6


# Patterns of every shape the gate reads (literals, classes, categories, repeats, groups,
# alternations, inline flags, lookarounds, backreferences) and text with the characters
# IGNORECASE and Unicode classes treat specially (Kelvin sign, long s, dotted I, fullwidth and
# Arabic-Indic digits, Unicode spaces).
GATE_PATTERNS = [
    r"\bORD-\d{8}\b", r"\b[A-Z]{2}\d{3}[A-Z]{2}\b", r"(?<!\d)1[3-9]\d{3}(?!\d)",
    r"\bwx[_-]?id[_-]?[a-z0-9]{2,}\b", r"\b(?:t|telegram)\.me/[a-z0-9_]{2,}", r"k+s",
    r"promo[-_ ]?code[:：]\s*\w{2,}", r"[a-z0-9._%+-]+@(?:tempmail|x)\.[a-z]{2,}", r"ſt|İx",
    r"(?i)KS", r"(?-i:Kx)", r"(a)\1", r"(?P<w>b)(?P=w)", r"\s\d", r"[^a]z", r".q", r"(?>ab)c",
    r"a++k", r"(?:ab|c|d)e", r"x|y", r"\w{3}", r"加\s*微\s*信", r"[Ａ-Ｚ]{2}", r"\d\d",
    r"k@?s", r"(?:#)?z{1,2}", r"@*t", r"(?:q|@)?e",
]  # fmt: skip
gate_text = st.text(
    st.sampled_from("abcdekstxyzqAKSTXYZ019 -_.:：@/ORDİıſKſ\u0661\uff11\u3000\u00a0加微信Ｋ"),
    max_size=30,
)


def _re_flags(letters: str) -> int:
    import re

    return (re.IGNORECASE if "i" in letters else 0) | (re.MULTILINE if "m" in letters else 0)


@settings(max_examples=400)
@given(
    gate_text,
    st.lists(st.sampled_from(GATE_PATTERNS), min_size=1, max_size=4, unique=True),
    st.lists(st.sampled_from(GATE_PATTERNS), min_size=1, max_size=3, unique=True),
    st.sampled_from(["", "i", "im"]),
)
def test_the_character_gate_changes_no_result(
    text: str, first: list[str], second: list[str], flags: str
) -> None:
    """Skipping texts without any character some pattern needs gives the hits of running
    every pattern (the gate is a necessary condition, never a filter of its own)."""
    import re

    sets = [RegexSet("a", tuple(first), flags=flags), RegexSet("b", tuple(second), flags="i")]
    matcher = RegexMatcher(sets)
    expected = sorted(
        (
            RegexHit(rs.name, p, m.start(), m.end(), m.group())
            for rs in sets
            for p in rs.patterns
            for m in re.finditer(p, text, _re_flags(rs.flags))
        ),
        key=lambda h: (h.start, h.set_name, h.pattern, h.end),
    )
    got = sorted(matcher.match(text), key=lambda h: (h.start, h.set_name, h.pattern, h.end))
    assert got == expected
    assert matcher.match(text, sets=["b"]) == [h for h in matcher.match(text) if h.set_name == "b"]
