"""The rule for text people type: the fast check refuses exactly what the per-character
reference refuses, with the same reason (the first offending character decides)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from courtyard.core.text import text_problem, text_problem_reference

# Every edge the rule has: controls at both ends of both Cc ranges, line breaks, tabs,
# surrogates, noncharacters in the BMP and in the last plane, and characters that look
# dangerous but are ordinary text (joiners, direction marks, private use, unassigned).
EDGES = [
    "\x00", "\x08", "\t", "\n", "\x0b", "\r", "\x1f", " ", "~", "\x7f", "\x9f", "\xa0",
    "\u200b", "\u200d", "\u202e", "\ud800", "\udfff", "\ue000", "\ufdd0", "\ufffd",
    "\ufffe", "\uffff", "\U0001fffe", "\U0010ffff", "\U0010fffd", "\U000e0001", "中", "😀",
]  # fmt: skip

texts = st.text(
    st.one_of(st.sampled_from(EDGES), st.characters(exclude_categories=())), max_size=40
)


@settings(max_examples=2000)
@given(value=texts, multiline=st.booleans())
def test_the_fast_check_equals_the_reference(value: str, multiline: bool) -> None:
    assert text_problem(value, multiline=multiline) == text_problem_reference(
        value, multiline=multiline
    )


@pytest.mark.parametrize(
    ("value", "multiline", "reason"),
    [
        ("hello\nworld\tok", True, None),
        ("hello\nworld", False, "control characters"),
        ("a\rb", True, "control characters"),
        ("bad \ud800 then \x00", True, "unpaired surrogates"),
        ("x\U0010ffff", True, "non-characters"),
        ("\u202eevil.exe \u200d 😀 中文", False, None),
    ],
)
def test_reasons_name_the_first_offending_character(
    value: str, multiline: bool, reason: str | None
) -> None:
    problem = text_problem(value, multiline=multiline)
    assert (problem is None) if reason is None else (problem is not None and reason in problem)
