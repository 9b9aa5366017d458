"""Retention: old events are deleted, and a cursor from before them is refused, never served a
stream with a hole in it (socket, HTTP, and any interleaving of writes, ageing and pruning)."""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from courtyard.client import ApiError, CourtyardClient, StreamError
from courtyard.container import Services
from courtyard.core.clock import FakeClock
from courtyard.realtime import store
from courtyard.realtime.model import CursorExpired, EventDraft
from tests.conftest import UserFactory

Opener = Any
RETENTION = timedelta(days=10)
_examples = itertools.count()


def me(client: CourtyardClient) -> dict[str, str]:
    account: dict[str, str] = client.account  # type: ignore[attr-defined]
    return account


async def append(
    services: Services, account_id: str, count: int, conversation_id: str | None = None
) -> list[int]:
    drafts = [
        EventDraft(
            kind="test.n",
            payload={},
            account_id=None if conversation_id else account_id,
            conversation_id=conversation_id,
        )
        for _ in range(count)
    ]
    async with services.db.write() as tx:
        return await services.realtime.append(tx, drafts)


async def read_all(services: Services, account_id: str, after: int, page: int) -> list[int]:
    got: list[int] = []
    while True:
        batch = await services.realtime.events_for(account_id, after, page)
        got.extend(e.id for e in batch)
        if len(batch) < page:
            return got
        after = batch[-1].id


async def old_then_new(
    services: Services, clock: FakeClock, account_id: str, old: int, new: int
) -> tuple[int, list[int], list[int]]:
    """The position before, ``old`` events, eleven days, ``new`` events: their ids."""
    base = await _position(services)
    old_ids = await append(services, account_id, old)
    clock.advance(days=11)
    return base, old_ids, await append(services, account_id, new)


async def test_old_events_go_and_a_cursor_before_them_is_refused(
    make_user: UserFactory, services: Services, clock: FakeClock
) -> None:
    alice = await make_user("alice")
    alice_id = me(alice)["id"]
    base, old, new = await old_then_new(services, clock, alice_id, 5, 2)

    assert await services.realtime.prune(RETENTION, batch=2) == 5  # three transactions
    with pytest.raises(CursorExpired) as expired:
        await services.realtime.events_for(alice_id, base, 100)
    assert expired.value.details["position"] == new[-1]
    with pytest.raises(CursorExpired):
        await services.realtime.events_for(alice_id, old[-2], 100)
    # The last deleted id is a complete cursor: nothing after it is missing.
    assert await read_all(services, alice_id, old[-1], 100) == new
    assert await services.realtime.prune(RETENTION) == 0


async def test_a_socket_with_an_expired_cursor_is_told_to_start_again(
    make_user: UserFactory, services: Services, clock: FakeClock, open_stream: Opener
) -> None:
    alice = await make_user("alice")
    base, old, [new] = await old_then_new(services, clock, me(alice)["id"], 3, 1)
    await services.realtime.prune(RETENTION)

    stale = await open_stream(alice)
    with pytest.raises(StreamError) as refused:
        await stale.register(base)
    assert refused.value.code == "cursor_expired"
    await stale.ws.wait_closed()
    assert stale.ws.close_code == 4410

    resumed = await open_stream(alice)
    assert await resumed.register(old[-1]) == old[-1]
    assert (await resumed.next_event())["id"] == new
    fresh = await open_stream(alice)
    assert await fresh.register(None) == new


async def test_the_http_fallback_answers_410_with_where_to_continue(
    make_user: UserFactory, services: Services, clock: FakeClock
) -> None:
    alice = await make_user("alice")
    alice_id = me(alice)["id"]
    _base, _old, [new] = await old_then_new(services, clock, alice_id, 3, 1)
    await services.realtime.prune(RETENTION)
    with pytest.raises(ApiError) as gone:
        await alice.events(0)
    assert (gone.value.status, gone.value.code) == (410, "cursor_expired")
    position = gone.value.details["position"]
    assert position == new
    assert (await alice.events(position))["items"] == []
    [later] = await append(services, alice_id, 1)
    assert [e["id"] for e in (await alice.events(position))["items"]] == [later]


async def test_a_fully_pruned_stream_keeps_its_position_and_its_routing(
    make_user: UserFactory, services: Services, clock: FakeClock, open_stream: Opener
) -> None:
    alice = await make_user("alice")
    bob = await make_user("bob")
    alice_id, bob_id = me(alice)["id"], me(bob)["id"]
    conversation = "c" * 26
    async with services.db.write() as tx:
        [opened] = await services.realtime.append(
            tx,
            [EventDraft("test.join", {}, conversation_id=conversation, audience_changed=True)],
        )
        await services.realtime.open_audience(tx, conversation, [alice_id, bob_id], opened)
    async with services.db.write() as tx:
        [closed] = await services.realtime.append(
            tx,
            [EventDraft("test.leave", {}, conversation_id=conversation, audience_changed=True)],
        )
        await services.realtime.close_audience(tx, conversation, [bob_id], closed)
    clock.advance(days=11)
    assert await services.realtime.prune(RETENTION) >= 2
    async with services.db.read() as conn:
        assert await store.last_stream_id(conn) == closed
        periods = await conn.execute(
            select(store.stream_audiences.c.account_id).where(
                store.stream_audiences.c.conversation_id == conversation
            )
        )
        assert [row[0] for row in periods] == [alice_id]  # bob's ended period went
        assert (await conn.execute(select(func.count()).select_from(store.events))).scalar() == 0

    stream = await open_stream(alice)
    assert await stream.register(closed) == closed  # up to date: not expired
    [after] = await append(services, alice_id, 1, conversation_id=conversation)
    assert after == closed + 1
    assert (await stream.next_event())["id"] == after
    assert await read_all(services, bob_id, closed, 10) == []


async def _position(services: Services) -> int:
    async with services.db.read() as conn:
        return await store.last_stream_id(conn)


steps_strategy = st.lists(
    st.one_of(
        st.tuples(st.just("append"), st.sampled_from(["me", "other"]), st.integers(1, 3)),
        st.tuples(st.just("age"), st.just(""), st.integers(1, 12)),
        st.tuples(st.just("prune"), st.just(""), st.integers(1, 4)),
        st.tuples(st.just("read"), st.just(""), st.integers(0, 40)),
    ),
    max_size=14,
)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=steps_strategy, page=st.integers(1, 3))
# Everything pruned: the empty table must still tell that a cursor is behind.
@example(steps=[("append", "me", 1), ("age", "", 11), ("prune", "", 1), ("read", "", 0)], page=1)
async def test_a_replay_is_exact_or_refused_never_short(
    services: Services, clock: FakeClock, steps: list[tuple[str, str, int]], page: int
) -> None:
    """Whatever was appended, aged and pruned, reading from any cursor a client could hold
    either returns exactly the account's events after it, or raises ``CursorExpired`` —
    and it raises only when events after the cursor really were deleted."""
    n = next(_examples)
    mine, other = f"m{n:025d}", f"o{n:025d}"
    # Start each example on an empty stream, so the model below knows every event.
    clock.advance(days=RETENTION.days + 1)
    await services.realtime.prune(RETENTION)
    start = await _position(services)
    written: list[tuple[int, str, Any]] = []  # (id, owner, written at)
    known = [start]
    pruned_through = start
    for action, who, value in steps:
        if action == "append":
            ids = await append(services, mine if who == "me" else other, value)
            written.extend((i, who, clock.now()) for i in ids)
            known.extend(ids)
        elif action == "age":
            clock.advance(days=value)
        elif action == "prune":
            await services.realtime.prune(RETENTION, batch=value)
            cutoff = clock.now() - RETENTION
            pruned_through = max([pruned_through] + [i for i, _, t in written if t < cutoff])
        else:
            cursor = known[value % len(known)]
            try:
                got = await read_all(services, mine, cursor, page)
            except CursorExpired:
                assert cursor < pruned_through, "refused although nothing after it was deleted"
            else:
                assert cursor >= pruned_through, "served a replay with deleted events missing"
                assert got == [i for i, owner, _ in written if owner == "me" and i > cursor]
