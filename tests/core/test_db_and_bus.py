"""Transactions, after-commit hooks and the bus: nothing escapes a rolled-back write."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError, StatementError

from courtyard.container import Services
from courtyard.core import json
from courtyard.core.bus import (
    Bus,
    InProcessBus,
    RedisBus,
    Subscription,
)
from courtyard.core.db import Database, Tx
from courtyard.governance.store import audit_log, insert_audit


class Boom(Exception):
    pass


async def audit_count(db: Database, tag: str) -> int:
    async with db.read() as conn:
        return len((await conn.execute(select(audit_log.c.id).where(audit_log.c.tag == tag))).all())


async def next_message(sub: Subscription, wait: float = 2.0) -> bytes | None:
    iterator = sub.__aiter__()
    try:
        return await asyncio.wait_for(iterator.__anext__(), wait)
    except (TimeoutError, StopAsyncIteration):
        return None


def publish_after_commit(tx: Tx, bus: Bus, channel: str, event: dict[str, object]) -> None:
    payload = json.dumps(event)

    async def publish() -> None:
        await bus.publish(channel, payload)

    tx.after_commit(publish)


async def publish_then_fail(db: Database, bus: Bus, channel: str, event: dict[str, object]) -> None:
    async with db.write() as tx:
        publish_after_commit(tx, bus, channel, event)
        raise Boom


async def test_after_commit_hooks_run_after_the_commit(services: Services) -> None:
    db = services.db
    seen: list[int] = []

    async def hook() -> None:
        # The write is visible to another connection by the time the hook runs.
        seen.append(await audit_count(db, "test:commit"))

    async with db.write() as tx:
        await insert_audit(
            tx.conn,
            at=services.clock.now(),
            actor_id=None,
            tag="test:commit",
            target_type="t",
            target_id="1",
        )
        tx.after_commit(hook)
        assert seen == []  # not yet
    assert seen == [1]


async def test_after_commit_hooks_never_run_after_a_rollback(services: Services) -> None:
    db = services.db
    ran: list[str] = []

    async def hook() -> None:
        ran.append("hook")

    async def failing_use_case() -> None:
        async with db.write() as tx:
            await insert_audit(
                tx.conn,
                at=services.clock.now(),
                actor_id=None,
                tag="test:rollback",
                target_type="t",
                target_id="1",
            )
            tx.after_commit(hook)
            raise Boom

    with pytest.raises(Boom):
        await failing_use_case()
    assert ran == []
    assert await audit_count(db, "test:rollback") == 0  # nothing half-written
    # The database is usable afterwards (the writer lock was released).
    async with db.write() as tx:
        tx.after_commit(hook)
    assert ran == ["hook"]


async def test_a_failed_statement_rolls_back_and_the_next_write_works(services: Services) -> None:
    """SQLite writes share one connection (its page cache stays warm): a statement that
    fails mid-transaction must leave nothing behind and must not spoil the next write."""
    db = services.db

    async def audit(tx: Tx, tag: str) -> None:
        await insert_audit(
            tx.conn, at=services.clock.now(), actor_id=None, tag=tag, target_type="t", target_id="1"
        )

    async def spoiled() -> None:
        async with db.write() as tx:
            await audit(tx, "test:spoiled")
            await tx.conn.execute(text("INSERT INTO no_such_table VALUES (1)"))

    for attempt in range(3):
        with pytest.raises(DBAPIError):
            await spoiled()
        async with db.write() as tx:
            await audit(tx, f"test:after-{attempt}")
        assert await audit_count(db, "test:spoiled") == 0
        assert await audit_count(db, f"test:after-{attempt}") == 1


async def test_a_failing_hook_does_not_undo_the_write_or_stop_other_hooks(
    services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    ran: list[str] = []

    async def bad() -> None:
        raise RuntimeError("notification failed")

    async def good() -> None:
        ran.append("good")

    async with services.db.write() as tx:
        await insert_audit(
            tx.conn,
            at=services.clock.now(),
            actor_id=None,
            tag="test:hooks",
            target_type="t",
            target_id="1",
        )
        tx.after_commit(bad)
        tx.after_commit(good)
    assert ran == ["good"]
    assert await audit_count(services.db, "test:hooks") == 1
    assert "after-commit hook failed" in caplog.text


async def test_hooks_run_in_registration_order(services: Services) -> None:
    order: list[int] = []
    async with services.db.write() as tx:
        for i in range(5):

            async def hook(i: int = i) -> None:
                order.append(i)

            tx.after_commit(hook)
    assert order == [0, 1, 2, 3, 4]


async def test_events_reach_subscribers_only_when_the_write_commits(services: Services) -> None:
    bus = services.bus
    assert isinstance(bus, InProcessBus)
    channel = "test:" + "A" * 26
    sub = await bus.subscribe(channel)
    try:
        with pytest.raises(Boom):
            await publish_then_fail(services.db, bus, channel, {"n": 1})
        async with services.db.write() as tx:
            publish_after_commit(tx, bus, channel, {"n": 2})
            # Published only once the block has committed.
            assert await next_message(sub, wait=0.05) is None
        message = await next_message(sub)
        assert message is not None
        assert json.loads(message) == {"n": 2}
        assert await next_message(sub, wait=0.05) is None  # the rolled-back event never came
    finally:
        await sub.close()


async def test_in_process_bus_delivers_per_channel_and_stops_after_close() -> None:
    bus = InProcessBus()
    a1 = await bus.subscribe("a")
    a2 = await bus.subscribe("a")
    b = await bus.subscribe("b")
    await bus.publish("a", b"hello")
    assert await next_message(a1) == b"hello"
    assert await next_message(a2) == b"hello"
    assert await next_message(b, wait=0.05) is None
    await a1.close()
    await bus.publish("a", b"again")
    assert await next_message(a2) == b"again"
    assert await next_message(a1, wait=0.05) is None
    await bus.close()
    assert await next_message(a2, wait=0.5) is None
    assert await next_message(b, wait=0.5) is None


async def test_in_process_bus_forgets_channels_nobody_listens_to() -> None:
    bus = InProcessBus()
    for i in range(100):
        sub = await bus.subscribe(f"account:{i}")
        await sub.close()
    assert bus.channel_count() == 0


async def test_a_slow_subscriber_loses_events_but_never_blocks_the_publisher() -> None:
    bus = InProcessBus()
    slow = await bus.subscribe("c")
    for i in range(10_050):
        await asyncio.wait_for(bus.publish("c", str(i).encode()), 1)
    assert await next_message(slow) == b"0"
    await bus.close()


async def test_closing_a_full_subscription_still_ends_its_reader() -> None:
    bus = InProcessBus()
    sub = await bus.subscribe("d")
    for i in range(10_000):
        await bus.publish("d", str(i).encode())
    await sub.close()

    async def read_all() -> int:
        return len([m async for m in sub])

    received = await asyncio.wait_for(read_all(), 5)
    assert 9_000 < received < 10_000


async def test_redis_bus_round_trip(redis_url: str) -> None:
    channel = f"test:{uuid.uuid4().hex}"
    publisher = RedisBus(redis_url)
    subscriber_bus = RedisBus(redis_url)
    try:
        assert await publisher.ping()
        sub = await subscriber_bus.subscribe(channel)
        other = await subscriber_bus.subscribe(channel + ":other")
        await publisher.publish(channel, b'{"event": 1}')
        await publisher.publish(channel, b"\x00binary\xff")
        assert await next_message(sub) == b'{"event": 1}'
        assert await next_message(sub) == b"\x00binary\xff"
        assert await next_message(other, wait=0.2) is None
        await sub.close()
        await other.close()
    finally:
        await publisher.close()
        await subscriber_bus.close()


async def test_redis_bus_publishes_after_commit_only(services: Services, redis_url: str) -> None:
    channel = f"test:{uuid.uuid4().hex}"
    bus = RedisBus(redis_url)
    try:
        sub = await bus.subscribe(channel)
        with pytest.raises(Boom):
            await publish_then_fail(services.db, bus, channel, {"n": "rolled back"})
        async with services.db.write() as tx:
            publish_after_commit(tx, bus, channel, {"n": "committed"})
        assert json.loads(await next_message(sub) or b"null") == {"n": "committed"}
        assert await next_message(sub, wait=0.2) is None
        await sub.close()
    finally:
        await bus.close()


async def test_utc_datetimes_round_trip_aware_and_naive_ones_are_refused(
    services: Services,
) -> None:
    moment = datetime(2026, 5, 4, 3, 2, 1, 123456, tzinfo=timezone(timedelta(hours=8)))
    async with services.db.write() as tx:
        await insert_audit(
            tx.conn, at=moment, actor_id=None, tag="test:tz", target_type="t", target_id="1"
        )
    async with services.db.read() as conn:
        stored = (
            await conn.execute(select(audit_log.c.at).where(audit_log.c.tag == "test:tz"))
        ).scalar_one()
    assert stored == moment
    assert stored.tzinfo is not None
    assert stored.utcoffset() == timedelta(0)
    assert stored == datetime(2026, 5, 3, 19, 2, 1, 123456, tzinfo=UTC)

    async def write_naive() -> None:
        async with services.db.write() as tx:
            await insert_audit(
                tx.conn,
                at=datetime(2026, 1, 1),
                actor_id=None,
                tag="test:naive",
                target_type="t",
                target_id="1",
            )

    with pytest.raises(StatementError, match="naive"):
        await write_naive()
    assert await audit_count(services.db, "test:naive") == 0


async def test_concurrent_writers_are_serialised_and_all_commit(services: Services) -> None:
    async def write(i: int) -> None:
        async with services.db.write() as tx:
            await insert_audit(
                tx.conn,
                at=services.clock.now(),
                actor_id=None,
                tag="test:many",
                target_type="t",
                target_id=str(i),
            )
            await asyncio.sleep(0)  # yield inside the transaction

    await asyncio.gather(*(write(i) for i in range(30)))
    assert await audit_count(services.db, "test:many") == 30


async def test_an_inline_commit_writes_and_rolls_back_like_a_threaded_one(
    services: Services,
) -> None:
    """``write(commit_inline=True)`` (the chat writer under load) commits the same and runs
    its after-commit hooks; a failed statement in it leaves nothing behind."""
    db = services.db
    ran: list[str] = []

    async def note() -> None:
        ran.append("hook")

    async with db.write(commit_inline=True) as tx:
        await insert_audit(
            tx.conn, at=services.clock.now(), actor_id=None, tag="test:inline", target_type="t",
            target_id="1",
        )  # fmt: skip
        tx.after_commit(note)
    assert ran == ["hook"]
    assert await audit_count(db, "test:inline") == 1

    async def spoiled() -> None:
        async with db.write(commit_inline=True) as tx:
            await insert_audit(
                tx.conn, at=services.clock.now(), actor_id=None, tag="test:inline-spoiled",
                target_type="t", target_id="1",
            )  # fmt: skip
            await tx.conn.execute(text("INSERT INTO no_such_table VALUES (1)"))

    with pytest.raises(DBAPIError):
        await spoiled()
    assert await audit_count(db, "test:inline-spoiled") == 0
