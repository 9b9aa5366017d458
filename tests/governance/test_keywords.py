"""Keyword matching: boundaries, projections, exceptions, combos, and the invariants."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from courtyard.governance.keywords import KeywordHit, KeywordList, KeywordMatcher
from courtyard.governance.text import ALL_PROJECTIONS, Projection

WITHOUT_INITIALS = frozenset(ALL_PROJECTIONS) - {Projection.INITIALS}


def matcher(*entries: str, **kwargs: object) -> KeywordMatcher:
    return KeywordMatcher([KeywordList("l", entries=entries, **kwargs)])  # type: ignore[arg-type]


def found(m: KeywordMatcher, text: str) -> list[tuple[str, str, str]]:
    return [(h.entry, h.projection.value, h.matched) for h in m.match(text)]


def test_hit_fields() -> None:
    m = KeywordMatcher([KeywordList("spam", entries=("加微信",), category="spam")])
    assert m.match("请加 微 信哦", field="bio") == [
        KeywordHit("spam", "加微信", Projection.COMPACT, 1, 6, "加 微 信", "bio")
    ]
    assert m.list_names == frozenset({"spam"})
    assert m.pattern_count >= 2


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("kick ass", [("ass", "raw", "ass")]),
        ("KICK ASS!", [("ass", "folded", "ASS")]),
        ("a.s.s", [("ass", "compact", "a.s.s")]),
        ("a s s", [("ass", "compact", "a s s")]),
        ("class", []),
        ("assistant", []),
        ("ass\u200bistant", []),  # a zero-width char is not a word boundary
        ("a\u200bss.", [("ass", "compact", "a\u200bss")]),
        ("as such", []),
        ("glass stuff", []),
        ("bass", []),
    ],
)
def test_latin_word_boundaries(text: str, expected: list[tuple[str, str, str]]) -> None:
    assert found(matcher("ass"), text) == expected


def test_sussex_and_document_are_not_hits() -> None:
    m = matcher("sex", "cum")
    assert found(m, "Sussex, Essex and Middlesex") == []
    assert found(m, "the document and a cucumber") == []
    assert found(m, "sex") == [("sex", "raw", "sex")]


def test_cjk_has_no_word_boundaries() -> None:
    assert found(matcher("刷单"), "招刷单员") == [("刷单", "raw", "刷单")]


def test_projection_reported_is_the_least_transformed() -> None:
    m = matcher("paypal", "刷单", "free money", "加微信")
    assert found(m, "paypal") == [("paypal", "raw", "paypal")]
    assert found(m, "PayPal") == [("paypal", "folded", "PayPal")]
    assert found(m, "ＰａｙＰａｌ") == [("paypal", "folded", "ＰａｙＰａｌ")]
    assert found(m, "pay pal") == [("paypal", "compact", "pay pal")]
    assert found(m, "pаypal") == [("paypal", "skeleton", "pаypal")]
    assert found(m, "刷單") == [("刷单", "simplified", "刷單")]
    assert found(m, "加薇信") == [("加微信", "pinyin", "加薇信")]


def test_lists_enable_projections() -> None:
    m = KeywordMatcher(
        [
            KeywordList("literal", entries=("刷单",), projections=frozenset({Projection.RAW})),
            KeywordList("loose", entries=("刷单",)),
        ]
    )
    assert {h.list_name for h in m.match("刷 单")} == {"loose"}
    assert {h.list_name for h in m.match("刷单")} == {"literal", "loose"}
    assert [h.list_name for h in m.match("刷单", lists=["literal"])] == ["literal"]
    assert m.match("刷单", lists=[]) == []
    with pytest.raises(ValueError, match="unknown keyword list"):
        m.match("x", lists=["nope"])


def test_pinyin_rules() -> None:
    m = matcher("加微信", "微信", "西安", "好")
    assert found(m, "jia weixin") == [
        ("加微信", "pinyin", "jia weixin"),
        ("微信", "pinyin", "weixin"),
    ]
    assert found(m, "加weixin") == [("加微信", "pinyin", "加weixin"), ("微信", "pinyin", "weixin")]
    assert found(m, "myweixin") == []  # "my" is not pinyin: inside an English word
    assert found(m, "jiaweixin")[0][0] == "加微信"  # a run of pinyin syllables
    assert found(m, "先") == []  # "xian": one syllable is not 西安 "xi an"
    assert found(m, "西岸") == [("西安", "pinyin", "西岸")]
    assert found(m, "hao") == []  # single-character keywords have no pinyin form
    assert found(m, "号") == []


def test_pinyin_phrase_reading() -> None:
    m = matcher("银行")
    assert found(m, "yinhang") == [("银行", "pinyin", "yinhang")]


def test_initials_only_standalone_capitals() -> None:
    m = KeywordMatcher(
        [
            KeywordList(
                "codes", entries=("政府", "微信"), projections=frozenset({Projection.INITIALS})
            )
        ]
    )
    assert found(m, "ask the ZF") == [("政府", "initials", "ZF")]
    assert found(m, "ZF") == [("政府", "initials", "ZF")]
    assert found(m, "ＷＸ：abc") == [("微信", "initials", "ＷＸ")]
    assert found(m, "加ZF") == []  # glued to CJK: not a token of its own
    assert found(m, "zf") == []  # lower case: too many English collisions
    assert found(m, "ZFB") == []
    assert found(m, "政府") == []  # the list only has INITIALS
    assert found(m, "正方") == []  # CJK never matches initials


def test_exceptions_discard_hits_inside_them() -> None:
    m = matcher("刷单", "代开", exceptions=("刷单词", "代开会", "待开"))
    assert found(m, "我在刷单词") == []
    assert found(m, "他代开会") == []
    assert found(m, "这个项目待开发") == []  # 待开 sounds like 代开: exception in COMPACT
    assert found(m, "刷单词还是刷单") == [("刷单", "raw", "刷单")]
    assert found(m, "代开发票") == [("代开", "raw", "代开")]


def test_exceptions_are_not_phonetic() -> None:
    m = matcher("兼职", exceptions=("简直",))
    assert found(m, "简直了") == []
    assert found(m, "jianzhi") == [("兼职", "pinyin", "jianzhi")]


def test_combos_report_first_part() -> None:
    m = KeywordMatcher([KeywordList("loan", combos=(("贷款", "日息"),), exceptions=("银行贷款",))])
    assert found(m, "日息低，贷款快") == [("贷款 + 日息", "raw", "贷款")]
    assert found(m, "贷款快") == []
    assert found(m, "银行贷款日息") == []  # the only 贷款 is inside an exception
    assert found(m, "貸 款，日息") == [("贷款 + 日息", "simplified", "貸 款")]


@pytest.mark.parametrize(
    ("lists", "message"),
    [
        ([KeywordList("l", entries=("",))], "empty entry"),
        ([KeywordList("l", entries=("  ",))], "empty entry"),
        ([KeywordList("l", entries=("!!!",))], "only punctuation"),
        ([KeywordList("l", entries=("\u200b",))], "only punctuation"),
        ([KeywordList("l", entries=("c++",))], "single letter"),
        ([KeywordList("l", entries=("a\x00b",))], "control char"),
        ([KeywordList("l", entries=("x",)), KeywordList("l", entries=("y",))], "twice"),
        ([KeywordList("", entries=("x",))], "without a name"),
        ([KeywordList("l", combos=(("x",),))], "two or more"),
        ([KeywordList("l", exceptions=("",))], "empty exception"),
        ([KeywordList("l", entries=("x",), projections=frozenset())], "no projections"),
    ],
)
def test_invalid_lists(lists: list[KeywordList], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        KeywordMatcher(lists)


def test_empty_matcher() -> None:
    m = KeywordMatcher([])
    assert m.match("anything") == []
    assert m.pattern_count == 0


def test_many_lists_share_one_automaton() -> None:
    lists = [KeywordList(f"l{i}", entries=(f"word{i}", f"词{i}语")) for i in range(50)]
    m = KeywordMatcher(lists)
    hits = m.match("say word7 and 词9语 and WORD 12x")
    assert {(h.list_name, h.entry) for h in hits} == {("l7", "word7"), ("l9", "词9语")}


# -- properties --------------------------------------------------------------------------

KEYWORDS = ("telegram", "free money", "加微信", "刷单", "ok boomer")
NOISE = st.sampled_from(["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad"])
SEPARATOR = st.sampled_from([" ", ".", "-", "_", "*", "/", "·", "，", "。", " . "])
FILLER_EDGE = st.sampled_from(["", " ", "！", "，", "我", "请", "ok. ", "\n"])
_EVERY = KeywordMatcher([KeywordList("k", entries=KEYWORDS, projections=WITHOUT_INITIALS)])


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(KEYWORDS), st.data())
def test_inserted_noise_never_loses_the_hit(keyword: str, data: st.DataObject) -> None:
    pieces: list[str] = []
    for i, ch in enumerate(keyword):
        pieces.append(ch)
        if i < len(keyword) - 1:
            pieces.append(
                data.draw(st.sampled_from(["", "z", "s"]))
                .replace("z", "")
                .replace("s", data.draw(NOISE | SEPARATOR))
            )
    before = data.draw(FILLER_EDGE)
    after = data.draw(FILLER_EDGE)
    if keyword.isascii():  # a Latin keyword needs a boundary on both sides
        before = before if not before or not before[-1].isalnum() else before + " "
        after = after if not after or not after[0].isalnum() else " " + after
    text = before + "".join(pieces) + after
    hits = [h for h in _EVERY.match(text) if h.entry == keyword]
    assert hits, text
    for h in hits:
        assert text[h.start : h.end] == h.matched


# Letters and characters that cannot spell any form of KEYWORDS in any projection: no q/x/z
# (nor d/b/g for 龘靐 "dabing"), CJK whose pinyin has none of them.
SAFE = "acefhjklmnoprstuvwyACEFHJKLMNOPRSTUVWY23456789 .,!?\u200b，。你好我们人山水木火"
_SAFE_MATCHER = KeywordMatcher([KeywordList("k", entries=("qzx", "xxq", "龘靐", "q z"))])


@settings(max_examples=300)
@given(st.text(st.sampled_from(SAFE), max_size=40))
def test_a_text_without_any_keyword_form_never_hits(text: str) -> None:
    assert _SAFE_MATCHER.match(text) == []


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=40))
def test_hits_are_valid_slices(text: str) -> None:
    for h in _EVERY.match(text):
        assert 0 <= h.start < h.end <= len(text)
        assert h.matched == text[h.start : h.end]
