"""The matcher's prefilter only drops candidates that the full check would reject: matching
with it gives the same hits as matching without it."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from courtyard.governance import keywords
from courtyard.governance.keywords import KeywordList, KeywordMatcher

MATCHER = KeywordMatcher(
    [
        KeywordList(
            "latin",
            entries=("tomor", "money", "am", "mom", "i1l", "no ma", "pal"),
            exceptions=("momo",),
        ),
        KeywordList("cjk", entries=("有了", "加微信", "银行"), combos=(("mom", "加微信"),)),
        KeywordList("literal", entries=("rnom",), projections=frozenset({keywords.Projection.RAW})),
    ]
)
TEXTS = st.text(
    st.sampled_from("tomrnaiIl10 .-\x01\u200bpPAL加微信有了银行yinhangyoule"), max_size=30
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(TEXTS)
def test_prefilter_changes_nothing(text: str) -> None:
    with_prefilter = MATCHER.match(text)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(keywords, "_prefilter", lambda found, *args: found)
        without = MATCHER.match(text)
    assert with_prefilter == without


def test_latin_keyword_inside_a_word_is_dropped_early() -> None:
    assert MATCHER.match("see you tomorrow") == []
    assert [h.entry for h in MATCHER.match("see you tomor!")] == ["tomor"]
    assert [h.entry for h in MATCHER.match("t.o.m.o.r")] == ["tomor"]
    # SKELETON only ("I" for "l"), after an "m" that SKELETON writes as "rn": word lengths
    # are counted in the projection the candidate was found in.
    assert [(h.entry, h.projection.value) for h in MATCHER.match("mm PAI")] == [("pal", "skeleton")]
