"""Text projections: what each one undoes, fast paths agree with the offset maps."""

from __future__ import annotations

import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from courtyard.governance.text import (
    ALL_PROJECTIONS,
    INITIALS_PLACEHOLDER,
    Projected,
    Projection,
    phrase_pinyin,
    phrase_syllables,
    pinyin_kinds,
    pinyin_segmentable,
    project,
    project_term,
    projection_function,
)


def forms(text: str) -> dict[str, str]:
    return {p.value: v for p, v in project(text).forms.items()}


def test_order_and_names_are_the_contract() -> None:
    assert [p.value for p in ALL_PROJECTIONS] == [
        "raw",
        "folded",
        "compact",
        "skeleton",
        "simplified",
        "pinyin",
        "initials",
    ]


@pytest.mark.parametrize(
    ("text", "projection", "expected"),
    [
        ("Free MONEY", Projection.FOLDED, "free money"),
        ("ＦＲＥＥ ｍｏｎｅｙ", Projection.FOLDED, "free money"),
        ("⼈", Projection.FOLDED, "人"),  # Kangxi radical
        ("①⑨", Projection.FOLDED, "19"),
        ("f.r.e.e m-o-n-e-y!", Projection.COMPACT, "freemoney"),
        ("加 微 信", Projection.COMPACT, "加微信"),
        ("加-微-信", Projection.COMPACT, "加微信"),
        ("加\u200b微\u200d信\ufeff", Projection.COMPACT, "加微信"),
        ("加🌸微🌸信", Projection.COMPACT, "加微信"),
        ("t\u00adel\u2060egram", Projection.COMPACT, "telegram"),
        ("ⓕⓡⓔⓔ", Projection.COMPACT, "free"),  # enclosed letters are symbols until NFKC
        ("pаypal", Projection.SKELETON, "paypal"),  # Cyrillic а
        ("PAYPAI", Projection.SKELETON, "paypal"),  # capital I looks like l
        ("money", Projection.SKELETON, "rnoney"),  # UTS #39: m -> rn, both sides
        ("MОNEY", Projection.SKELETON, "rnoney"),  # Cyrillic О, capitals
        ("p0rn", Projection.SKELETON, "porn"),
        ("frée", Projection.SKELETON, "free"),
        ("刷單 網賭", Projection.SIMPLIFIED, "刷单网赌"),
        ("頭髮 發財", Projection.SIMPLIFIED, "头发发财"),
        ("加微信", Projection.PINYIN, "jiaweixin"),
        ("加weixin", Projection.PINYIN, "jiaweixin"),
        ("绿", Projection.PINYIN, "lv"),
        ("ask the ZF 加", Projection.INITIALS, "askthezf" + INITIALS_PLACEHOLDER),
    ],
)
def test_projection_undoes(text: str, projection: Projection, expected: str) -> None:
    assert project(text, [projection]).forms == {projection: expected}
    assert projection_function(projection)(text) == expected


def test_project_returns_only_requested() -> None:
    p = project("Hi", [Projection.COMPACT, Projection.RAW])
    assert set(p.forms) == {Projection.COMPACT, Projection.RAW}


def test_project_term_initials_and_pinyin() -> None:
    t = project_term("政府")
    assert t[Projection.PINYIN] == "zhengfu"
    assert t[Projection.INITIALS] == "zf"
    assert project_term("加V")[Projection.INITIALS] == ""  # not all CJK: no initials
    assert project_term("free money")[Projection.COMPACT] == "freemoney"


def test_phrase_pinyin_uses_phrase_readings() -> None:
    assert phrase_pinyin("银行") == "yinhang"
    assert project_term("银行")[Projection.PINYIN] == "yinxing"  # the per-char table
    assert phrase_pinyin("加微信") == "jiaweixin"


def test_pinyin_segmentable() -> None:
    assert pinyin_segmentable("jiaweixin")
    assert not pinyin_segmentable("myweixin")
    assert pinyin_segmentable("")


def test_raw_span_maps_back() -> None:
    text = "请 加 ｗｅｉ\u200bｘｉｎ！"
    p = project(text)
    compact = p.forms[Projection.COMPACT]
    start = compact.index("weixin")
    a, b = p.raw_span(Projection.COMPACT, start, start + 6)
    assert text[a:b] == "ｗｅｉ\u200bｘｉｎ"
    pinyin = p.forms[Projection.PINYIN]
    a, b = p.raw_span(Projection.PINYIN, 0, pinyin.index("weixin"))
    assert text[a:b] == "请 加"


def test_raw_span_of_an_expansion() -> None:
    p = project("money")
    assert p.forms[Projection.SKELETON] == "rnoney"
    assert p.raw_span(Projection.SKELETON, 0, 1) == (0, 1)  # half of "rn" is all of "m"
    assert p.raw_span(Projection.SKELETON, 0, 0) == (0, 0)


# -- properties --------------------------------------------------------------------------

NOISE = "\u200b\u200c\u200d\u2060\ufeff\u00ad\ufe0f"
SEPARATORS = " .-_*/|·~,!　，。"
text_chars = st.sampled_from(
    string.ascii_letters
    + string.digits
    + NOISE
    + SEPARATORS
    + "加微信刷單网赌發票ａＢｃ①аерΡ\u0301é⼈ｶ"
)
texts = st.text(text_chars, max_size=30) | st.text(max_size=20)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(texts)
def test_offset_maps_agree_with_the_fast_path(text: str) -> None:
    p = project(text)
    fresh = Projected(text, {})
    for projection in ALL_PROJECTIONS:
        mapped, starts, ends = fresh.offsets(projection)
        assert mapped == p.forms[projection], projection
        assert len(starts) == len(ends) == len(mapped)
        assert all(0 <= a <= b <= len(text) for a, b in zip(starts, ends, strict=True))


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(texts, st.data())
def test_raw_span_is_a_slice_that_projects_to_contain_the_match(
    text: str, data: st.DataObject
) -> None:
    p = project(text)
    for projection in (Projection.FOLDED, Projection.COMPACT, Projection.SKELETON,
                       Projection.SIMPLIFIED):  # fmt: skip
        form = p.forms[projection]
        if not form:
            continue
        start = data.draw(st.integers(0, len(form) - 1))
        end = data.draw(st.integers(start + 1, len(form)))
        a, b = p.raw_span(projection, start, end)
        assert 0 <= a < b <= len(text)
        again = project(text[a:b], [projection]).forms[projection]
        if projection is Projection.SIMPLIFIED:
            continue  # OpenCC converts phrases: a slice may convert differently
        assert form[start:end] in again, (form[start:end], again)


# Characters that take every branch of the point mapping: NFKC expansions (①, ﬁ, ㎏, ¨),
# casefold expansions (ß, ﬀ, İ), skeleton expansions (m, M), supplementary characters,
# OpenCC conversions that may change the length (乾隆, 著), marks and conjoining jamo.
spans_text = st.text(
    st.sampled_from(
        "am Mx1 .,-\u200b\u0301\u0308ßﬀﬁİ①㎏¨ａＢ　，。發乾隆著隻臺後加微信刷单银行"
        "\U0001d400\U0001f600\u1100\u1161\uac00аерΡé⼈ｶ"
    ),
    max_size=24,
)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(spans_text | texts, st.booleans())
def test_point_spans_equal_the_offset_maps(text: str, hinted: bool) -> None:
    """raw_span, char_span and form without offset lists give what the whole-text maps
    give, for every slice of every projection."""
    fast = Projected(text, {})
    full = Projected(text, {})
    if hinted:  # what the matcher passes: the forms it computed, the kinds it has
        forms = project(text).forms
        simplified = forms[Projection.SIMPLIFIED]
        fast = Projected(
            text,
            {Projection.SIMPLIFIED: simplified, Projection.PINYIN: forms[Projection.PINYIN]},
            kinds={simplified: pinyin_kinds(simplified)},
        )
    for projection in ALL_PROJECTIONS:
        mapped, starts, ends = full.offsets(projection)
        assert fast.form(projection) == mapped, projection
        for i in range(len(mapped)):
            assert fast.char_span(projection, i) == (starts[i], ends[i]), (projection, i)
        for a in range(len(mapped) + 1):
            expected_empty = (starts[a], starts[a]) if a < len(mapped) else (len(text),) * 2
            assert fast.raw_span(projection, a, a) == expected_empty
            for b in range(a + 1, len(mapped) + 1):
                expected = (min(starts[a:b]), max(ends[a:b]))
                assert fast.raw_span(projection, a, b) == expected, (projection, a, b)


@given(texts)
def test_projection_is_idempotent_for_compact(text: str) -> None:
    compact = project(text, [Projection.COMPACT]).forms[Projection.COMPACT]
    assert project(compact, [Projection.COMPACT]).forms[Projection.COMPACT] == compact


def _greedy_phrase_reading(simplified: str) -> list[str]:
    """The reference: at each position the longest phrase of 4, 3 or 2 chars in pypinyin's
    dictionary, else the char table (recursive, with no shortcut)."""
    from courtyard.governance import text as text_module

    phrase_syllables("银行")  # loads the dictionary
    phrases = text_module._phrases
    assert phrases is not None
    if not simplified:
        return []
    longest = max(
        (n for n in (2, 3, 4) if len(simplified) >= n and simplified[:n] in phrases), default=1
    )
    if longest == 1:
        head = [text_module.tables().pinyin.get(ord(simplified[0]), simplified[0])]
    else:
        head = [text_module._toneless(reading[0]) for reading in phrases[simplified[:longest]]]
    return head + _greedy_phrase_reading(simplified[longest:])


_PHRASE_PIECES = ["银行", "行长", "重庆", "长城", "朝阳", "音乐", "快乐", "还是", "不行"]
_PHRASE_PIECES += ["中国银行"]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.sampled_from(_PHRASE_PIECES) | st.sampled_from("行长重乐还朝了的不我a1"),
        min_size=1,
        max_size=8,
    )
)
def test_phrase_syllables_is_the_greedy_longest_phrase_reading(pieces: list[str]) -> None:
    keyword = "".join(pieces)
    assert phrase_syllables(keyword) == _greedy_phrase_reading(keyword)
