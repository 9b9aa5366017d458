"""Heartbeats, idle timeout, backpressure (4409 then resume) and losing the right to read."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import event as sa_event

from courtyard.accounts import store as accounts_store
from courtyard.client import CourtyardClient, StreamClient, StreamError
from courtyard.container import Services
from courtyard.realtime.model import EventDraft, StoredEvent
from tests.conftest import UserFactory

Opener = Any


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    return {
        "ws_heartbeat_seconds": 0.2,
        "ws_idle_timeout_seconds": 1.0,
        "ws_send_queue_max": 5,
        "ws_reauth_seconds": 0.3,
        "stream_poll_seconds": 60.0,  # wake-ups only: the query count below is exact
    }


def me(client: CourtyardClient) -> dict[str, str]:
    account: dict[str, str] = client.account  # type: ignore[attr-defined]
    return account


async def closed_with(stream: StreamClient, within: float = 5) -> tuple[int | None, str]:
    """Read (without answering pings) until the server closes; its close code and error."""
    code = ""
    async with asyncio.timeout(within):
        while True:
            try:
                await stream.receive()
            except StreamError as exc:
                if exc.close_code is not None or exc.code == "closed":
                    await stream.ws.wait_closed()
                    return stream.ws.close_code, code
                code = exc.code


async def append(services: Services, account_id: str, count: int) -> list[int]:
    drafts = [
        EventDraft(kind="test.n", payload={"n": i}, account_id=account_id) for i in range(count)
    ]
    async with services.db.write() as tx:
        return await services.realtime.append(tx, drafts)


async def test_heartbeats_keep_a_live_client_connected(
    make_user: UserFactory, services: Services, open_stream: Opener
) -> None:
    alice = await make_user("alice")
    stream = await open_stream(alice)
    await stream.register(None)
    pings = 0
    async with asyncio.timeout(5):
        while pings < 8:  # 1.6 s: beyond the idle timeout, kept alive by answering pings
            frame = await stream.receive()
            assert frame == {"type": "ping"}
            await stream.send({"type": "pong"})
            pings += 1
    [stream_id] = await append(services, me(alice)["id"], 1)
    got = await asyncio.wait_for(stream.next_event(), 5)
    assert got["id"] == stream_id


async def test_a_silent_client_is_closed(make_user: UserFactory, open_stream: Opener) -> None:
    alice = await make_user("alice")
    stream = await open_stream(alice)
    await stream.register(None)
    assert await closed_with(stream) == (4408, "idle_timeout")


async def test_a_client_that_never_registers_is_closed(
    make_user: UserFactory, open_stream: Opener, services: Services
) -> None:
    services.settings.ws_auth_timeout_seconds = 0.3
    alice = await make_user("alice")
    stream = await open_stream(alice)
    assert await closed_with(stream) == (4408, "idle_timeout")


async def test_a_slow_reader_is_told_to_resync_and_resumes(
    make_user: UserFactory, services: Services, open_stream: Opener
) -> None:
    alice = await make_user("alice")
    bob = await make_user("bob")
    stream = await open_stream(alice)
    cursor = await stream.register(None)
    bystander = await open_stream(bob)
    await bystander.register(None)
    ids = await append(services, me(alice)["id"], 20)  # one batch: more than the queue holds
    [bob_id] = await append(services, me(bob)["id"], 1)
    assert await closed_with(stream) == (4409, "resync")
    # Others are not held up.
    assert (await asyncio.wait_for(bystander.next_event(), 5))["id"] == bob_id
    resumed = await open_stream(alice)
    await resumed.register(cursor)
    got = [(await asyncio.wait_for(resumed.next_event(), 5))["id"] for _ in ids]
    assert got == ids


async def test_a_session_revoked_unannounced_loses_its_socket_at_the_periodic_check(
    make_user: UserFactory, services: Services, open_stream: Opener
) -> None:
    """Revoked where no announcement is made (another process on SQLite, a lost bus
    message): the periodic check is the safety net. Announced revocations:
    tests/realtime/test_access.py."""
    alice = await make_user("alice")
    stream = await open_stream(alice)
    await stream.register(None)
    [session] = [s["id"] for s in await alice.sessions() if s["current"]]
    async with services.db.write() as tx:
        assert await accounts_store.revoke_session(
            tx.conn, me(alice)["id"], session, services.clock.now()
        )
    assert await closed_with(stream) == (4401, "unauthenticated")


async def test_a_suspended_account_loses_its_socket(
    make_user: UserFactory, services: Services, open_stream: Opener
) -> None:
    alice = await make_user("alice")
    stream = await open_stream(alice)
    await stream.register(None)
    async with services.db.write() as tx:
        await accounts_store.update_account(
            tx.conn, me(alice)["id"], services.clock.now(), state="suspended"
        )
    assert await closed_with(stream) == (4403, "capability_denied")


async def test_fan_out_reads_the_stream_once_per_node_not_per_connection(
    make_user: UserFactory, services: Services, open_stream: Opener
) -> None:
    users = [await make_user(f"fan_{i}") for i in range(6)]
    db: Any = services.db
    engine = db._sync_engine or db._async_engine.sync_engine
    reads: list[str] = []

    def record(*args: Any) -> None:
        if "FROM events" in args[2]:
            reads.append(args[2])

    async def deliver_to(count: int) -> int:
        streams = [await open_stream(u) for u in users[:count]]
        for stream in streams:
            await stream.register(None)
        reads.clear()
        sa_event.listen(engine, "before_cursor_execute", record)
        try:
            drafts = [
                EventDraft(kind="test.fan", payload={}, account_id=me(u)["id"])
                for u in users[:count]
            ]
            async with services.db.write() as tx:
                await services.realtime.append(tx, drafts)
            for stream in streams:
                assert (await asyncio.wait_for(stream.next_event(), 5))["kind"] == "test.fan"
        finally:
            sa_event.remove(engine, "before_cursor_execute", record)
        for stream in streams:
            await stream.close()
        return len(reads)

    # Events this node committed are handed to the tailer directly (no read at all); either
    # way the count does not grow with the number of connections.
    one, six = await deliver_to(1), await deliver_to(6)
    assert one == six
    assert six <= 1


async def test_an_offer_that_skips_a_commit_is_refused_and_read_from_the_stream(
    services: Services,
) -> None:
    """The local shortcut never lets the tailer jump over an event it has not dispatched."""
    tailer = services.tailer
    start = tailer.position
    gap = StoredEvent(
        id=start + 2,
        account_id="x" * 26,
        conversation_id=None,
        kind="test.gap",
        payload={},
        created_at=services.clock.now(),
    )
    assert tailer.offer([gap]) is False
    assert tailer.position == start
    follows = StoredEvent(
        id=start + 1,
        account_id="x" * 26,
        conversation_id=None,
        kind="test.next",
        payload={},
        created_at=services.clock.now(),
    )
    assert tailer.offer([follows]) is True
    assert tailer.position == start + 1
    # A conversation whose audience is not cached needs a read first.
    unknown = StoredEvent(
        id=start + 2,
        account_id=None,
        conversation_id="c" * 26,
        kind="test.conv",
        payload={},
        created_at=services.clock.now(),
    )
    assert tailer.offer([unknown]) is False
    assert tailer.position == start + 1


async def test_queued_frames_go_straight_to_uvicorns_transport(
    make_user: UserFactory, services: Services, open_stream: Opener, monkeypatch: Any
) -> None:
    """Under uvicorn's sans-I/O protocol, events skip the per-frame ASGI send path (the
    fallback stays correct elsewhere): the frames still arrive, in order, intact."""
    from starlette.websockets import WebSocket

    user = await make_user("wire_user")
    stream = await open_stream(user)
    await stream.register(None)
    calls: list[str] = []
    original = WebSocket.send_text

    async def counting(self: WebSocket, data: str) -> None:
        calls.append(data)
        await original(self, data)

    monkeypatch.setattr(WebSocket, "send_text", counting)
    big = "x" * 70_000  # the 8-byte length form of the frame header
    drafts = [
        EventDraft(
            kind="test.wire",
            payload={"n": n, "pad": big if n == 2 else "é" * n},
            account_id=me(user)["id"],
        )
        for n in range(5)
    ]
    async with services.db.write() as tx:
        await services.realtime.append(tx, drafts)
    received = [await asyncio.wait_for(stream.next_event(), 5) for _ in range(5)]
    assert [e["data"]["n"] for e in received] == [0, 1, 2, 3, 4]
    assert received[2]["data"]["pad"] == big
    assert received[4]["data"]["pad"] == "éééé"
    assert calls == []
