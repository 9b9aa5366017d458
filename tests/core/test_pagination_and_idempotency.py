"""Cursor pagination and idempotency helpers."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.requests import Request

from courtyard.container import Services
from courtyard.core.errors import InvalidInput
from courtyard.core.http import idempotency_key
from courtyard.core.pagination import MAX_LIMIT, clamp_limit, decode_cursor, encode_cursor
from courtyard.core.store import recall_result, remember_result

keys = st.lists(
    st.one_of(
        st.integers(min_value=-(2**63), max_value=2**63 - 1),
        # Sort keys are handles, ids and times: text without control characters.
        st.text(st.characters(blacklist_categories=("Cc", "Cs")), max_size=30),
        st.booleans(),
        st.none(),
        st.floats(allow_nan=False, allow_infinity=False),
    ),
    max_size=4,
)


@given(key=keys)
def test_cursor_round_trips(key: list[Any]) -> None:
    cursor = encode_cursor(*key)
    assert "=" not in cursor
    assert decode_cursor(cursor) == key


@given(
    prefix=st.text(st.characters(blacklist_categories=("Cs",)), max_size=5),
    control=st.characters(categories=("Cc",)),
)
def test_cursors_carrying_control_characters_are_refused(prefix: str, control: str) -> None:
    with pytest.raises(InvalidInput):
        decode_cursor(encode_cursor(prefix + control))


@given(garbage=st.text(max_size=60))
def test_garbage_cursors_are_invalid_input_or_a_list(garbage: str) -> None:
    try:
        value = decode_cursor(garbage)
    except InvalidInput as exc:
        details = exc.details
    else:
        assert value is None or isinstance(value, list)
        return
    assert details == {"field": "cursor"}


@pytest.mark.parametrize("cursor", ["!!!", "e30", "bnVsbA", "MQ", "a"])  # "{}", "null", "1"
def test_cursors_that_do_not_hold_a_list_are_refused(cursor: str) -> None:
    with pytest.raises(InvalidInput):
        decode_cursor(cursor)


def test_no_cursor_means_the_first_page() -> None:
    assert decode_cursor(None) is None
    assert decode_cursor("") is None


@given(limit=st.one_of(st.none(), st.integers(min_value=-(10**9), max_value=10**9)))
def test_limits_are_clamped(limit: int | None) -> None:
    result = clamp_limit(limit)
    assert 1 <= result <= MAX_LIMIT
    if limit is not None and 1 <= limit <= MAX_LIMIT:
        assert result == limit


def request_with(headers: list[tuple[bytes, bytes]]) -> Request:
    return Request({"type": "http", "method": "POST", "path": "/", "headers": headers})


def test_idempotency_key_is_optional_and_validated() -> None:
    assert idempotency_key(request_with([])) is None
    assert idempotency_key(request_with([(b"idempotency-key", b"abc-123")])) == "abc-123"
    for bad in (b"", b"has space", b"x" * 129, "é".encode("latin-1")):
        with pytest.raises(InvalidInput):
            idempotency_key(request_with([(b"idempotency-key", bad)]))


async def test_a_remembered_result_is_recalled_per_account_scope_and_key(
    services: Services,
) -> None:
    now = services.clock.now()
    async with services.db.write() as tx:
        assert await recall_result(tx.conn, "A" * 26, "posts:create", "k1") is None
        await remember_result(tx.conn, "A" * 26, "posts:create", "k1", {"id": "P1"}, now)
    async with services.db.read() as conn:
        assert await recall_result(conn, "A" * 26, "posts:create", "k1") == {"id": "P1"}
        assert await recall_result(conn, "B" * 26, "posts:create", "k1") is None
        assert await recall_result(conn, "A" * 26, "other:scope", "k1") is None
        assert await recall_result(conn, "A" * 26, "posts:create", "k2") is None


async def test_a_rolled_back_create_leaves_no_idempotency_record(services: Services) -> None:
    async def create_then_fail() -> None:
        async with services.db.write() as tx:
            await remember_result(tx.conn, "A" * 26, "s", "k", {"id": 1}, services.clock.now())
            raise RuntimeError("the create failed")

    with pytest.raises(RuntimeError):
        await create_then_fail()
    async with services.db.read() as conn:
        assert await recall_result(conn, "A" * 26, "s", "k") is None
