"""Identifiers: time-ordered, unique, well-formed."""

from __future__ import annotations

import time

from hypothesis import given
from hypothesis import strategies as st

from courtyard.core.ids import ID_LENGTH, _encode, _encode_id, id_time_ms, is_valid_id, new_id

MAX_MS = (1 << 48) - 1
millis = st.integers(min_value=0, max_value=MAX_MS)


@given(ms=millis)
def test_an_id_carries_its_time(ms: int) -> None:
    identifier = new_id(ms)
    assert len(identifier) == ID_LENGTH
    assert is_valid_id(identifier)
    assert id_time_ms(identifier) == ms


@given(a=millis, b=millis)
def test_ids_sort_by_time(a: int, b: int) -> None:
    if a < b:
        assert new_id(a) < new_id(b)
    elif a > b:
        assert new_id(a) > new_id(b)


@given(ms=millis, n=st.integers(min_value=2, max_value=200))
def test_ids_made_in_one_millisecond_are_unique_and_in_creation_order(ms: int, n: int) -> None:
    ids = [new_id(ms) for _ in range(n)]
    assert len(set(ids)) == n
    assert ids == sorted(ids)


def test_ids_from_the_clock_are_in_creation_order() -> None:
    ids = [new_id() for _ in range(20_000)]  # many share a millisecond
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids)
    now = int(time.time() * 1000)
    assert abs(id_time_ms(ids[-1]) - now) < 5_000


@given(text=st.text(max_size=30))
def test_is_valid_id_accepts_only_the_alphabet_and_length(text: str) -> None:
    valid = len(text) == 26 and all(c in "0123456789ABCDEFGHJKMNPQRSTVWXYZ" for c in text)
    assert is_valid_id(text) == valid


def test_ids_do_not_use_ambiguous_letters() -> None:
    for _ in range(1000):
        assert not set(new_id()) & set("ILOU")


@given(st.integers(0, (1 << 48) - 1), st.integers(0, (1 << 80) - 1))
def test_the_fast_encoding_equals_the_digit_by_digit_one(millis: int, random: int) -> None:
    assert _encode_id(millis, random) == _encode(millis, 10) + _encode(random, 16)
