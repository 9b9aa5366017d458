"""Keywords are projected in bulk at compile (term_forms_many): it must give exactly what
projecting each keyword on its own gives, since texts are projected one by one."""

from __future__ import annotations

import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from courtyard.governance.keywords import KeywordList, KeywordMatcher
from courtyard.governance.text import term_forms, term_forms_many

# ASCII, Simplified and Traditional characters (some polyphonic, some with phrase readings),
# and everything that takes compute_forms off its fast paths: fullwidth, confusables,
# combining marks, Hangul fillers and jamo, compatibility ideographs, Kangxi radicals,
# invisible characters, separators, the bulk separator itself, supplementary characters.
ALPHABET = (
    string.ascii_letters
    + string.digits
    + " .-\n\t"
    + "加微信刷单網賭發票银行长行乐重的了和头髮发财臺灣乾干后後"
    + "ＡＢｃ１①аерΡІ\u0301\u0308é\u1160\u3164가ᄀ\uf900⼈ｶ\u200b\ufeff\u00ad，。！"
    + "\U00020000\U0001d400🌸"
)
terms_strategy = st.lists(st.text(st.sampled_from(ALPHABET), max_size=8), max_size=30)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(terms_strategy)
def test_bulk_projection_equals_projecting_each_term(terms: list[str]) -> None:
    columns = term_forms_many(terms)
    for k, term in enumerate(terms):
        assert [column[k] for column in columns] == term_forms(term), term


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.text(st.sampled_from(string.ascii_letters + "加微信銀行刷單乐"), max_size=6)))
def test_bulk_projection_of_plain_terms(terms: list[str]) -> None:
    columns = term_forms_many(terms)
    assert [[column[k] for column in columns] for k in range(len(terms))] == [
        term_forms(term) for term in terms
    ]


def test_phrase_readings_survive_the_compact_compile() -> None:
    matcher = KeywordMatcher([KeywordList("places", entries=("银行", "银行卡号", "西安"))])
    hits = matcher.match("转到 yinhang 卡")
    assert [(h.entry, h.projection.value) for h in hits] == [("银行", "pinyin")]
    assert [h.entry for h in matcher.match("yin xing")] == ["银行"]
    assert [h.entry for h in matcher.match("去吸安")] == ["西安"]
    assert matcher.match("去先") == []  # 先 "xian" is one syllable, 西安 two
