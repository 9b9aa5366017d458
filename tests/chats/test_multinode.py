"""Chats on two nodes sharing one PostgreSQL database and one Redis.

One scenario, in three acts (bounded: a few hundred messages, loopback only, under 60 s):

a. A sender on node A pipelines N sends over the WebSocket into a direct conversation and a
   group of three; the receivers, on node B, get every message exactly once in seq order, and
   the sender's acks carry the same seqs.
b. Node A is killed (SIGKILL) while sends are in flight: every acknowledged message reaches
   node B's receivers and node B's history. The sender reconnects to node B and resends what
   was not acknowledged with the same client ids: one copy of each, seqs contiguous.
c. A receiver leaves node B, misses messages, and resumes with its cursor on node A (restarted):
   it gets exactly the missed messages, once each, in order, then live ones.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed

from courtyard.client import CourtyardClient, StreamClient, StreamError
from courtyard.testing import ServerProcess, create_scratch_database, drop_scratch_database
from tests.chats.conftest import befriend, me
from tests.conftest import POSTGRES_URL, REDIS_URL, _required, run_blocking

pytestmark = pytest.mark.timeout(60)  # set-up and tear-down included

PASSWORD = "correct horse battery staple"
N = 300  # messages per conversation and act
KILL_AFTER = 120  # acks received on node A before it is killed (of 2 * N sends)
WINDOW = 64  # sends in flight at once while node A is being killed
MISSED = 100  # group messages the receiver misses in act c
LIVE = 50  # and those sent once it is back
WAIT = 15.0  # seconds any single expectation may take


# ---- the cluster --------------------------------------------------------------------------


@pytest.fixture
def cluster_database() -> Iterator[str]:
    """A fresh scratch PostgreSQL database (never the shared one) that the nodes migrate."""
    if not POSTGRES_URL or not REDIS_URL:
        for name, value in (("POSTGRES", POSTGRES_URL), ("REDIS", REDIS_URL)):
            if not value and _required(name):
                pytest.fail(f"COURTYARD_TEST_REQUIRE_{name} is set but its URL is not")
        pytest.skip("the multi-node test needs PostgreSQL and Redis")
    url = run_blocking(lambda: create_scratch_database(POSTGRES_URL, "courtyard_chatnodes"))
    assert isinstance(url, str)
    yield url
    run_blocking(lambda: drop_scratch_database(POSTGRES_URL, url))


def start_node(database_url: str, data_dir: Path, port: int | None = None) -> ServerProcess:
    return ServerProcess(
        database_url=database_url,
        data_dir=data_dir,
        port=port,
        env={"COURTYARD_REDIS_URL": REDIS_URL},
    )


@pytest.fixture
async def nodes(cluster_database: str, tmp_path: Path) -> AsyncIterator[list[ServerProcess]]:
    """Two nodes; a test may append more (a restart), and every one is stopped at the end."""
    servers: list[ServerProcess] = []
    try:
        # Both at once: they migrate the empty database at start, taking turns on the
        # advisory lock (docs/operations.md), which this exercises too.
        for i in range(2):
            servers.append(start_node(cluster_database, tmp_path / f"node{i}"))
        await asyncio.gather(*(asyncio.to_thread(s.wait_ready) for s in servers))
        yield servers
    finally:
        for server in servers:
            server.stop()


def ws(server: ServerProcess) -> str:
    return f"ws://127.0.0.1:{server.port}/api/v1/stream"


# ---- sockets ------------------------------------------------------------------------------


async def until(changed: asyncio.Event, condition: Callable[[], bool], what: str) -> None:
    """Wait (at most ``WAIT`` seconds) until ``condition()`` holds; ``changed`` is set on news."""
    try:
        async with asyncio.timeout(WAIT):
            while not condition():
                changed.clear()
                if condition():
                    break
                await changed.wait()
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


def frame(conversation_id: str, client_id: str) -> dict[str, Any]:
    text = f"message {client_id}"  # the same text on a resend, as idempotency requires
    return {
        "type": "send",
        "client_id": client_id,
        "conversation_id": conversation_id,
        "text": text,
    }


class Sender:
    """A sending socket: pipelines ``send`` frames and collects the acks in the background."""

    def __init__(self, stream: StreamClient) -> None:
        self.stream = stream
        self.sent: list[str] = []
        self.acks: list[tuple[str, int]] = []  # (client id, seq), in arrival order
        self.errors: list[dict[str, Any]] = []
        self.changed = asyncio.Event()
        self.closed = asyncio.Event()
        self._reader = asyncio.create_task(self._read())

    @property
    def acked(self) -> dict[str, int]:
        return dict(self.acks)

    @property
    def in_flight(self) -> int:
        return len(self.sent) - len({c for c, _ in self.acks})

    async def _read(self) -> None:
        try:
            while True:
                got = await self.stream.receive()
                if got["type"] == "ack":
                    self.acks.append((got["client_id"], got["seq"]))
                elif got["type"] == "send_error":
                    self.errors.append(got)
                elif got["type"] == "ping":
                    await self.stream.send({"type": "pong"})
                self.changed.set()  # events (our own messages) included: any sign of progress
        except (StreamError, ConnectionClosed, OSError):
            pass
        finally:
            self.closed.set()
            self.changed.set()

    async def send_all(self, frames: list[dict[str, Any]], window: int) -> None:
        """Send ``frames`` with at most ``window`` unacknowledged; stop when the socket dies."""
        for f in frames:
            await until(
                self.changed,
                lambda: self.closed.is_set() or self.in_flight < window,
                "room in the send window",
            )
            if self.closed.is_set():
                return
            try:
                await self.stream.send(f)
            except (ConnectionClosed, OSError):
                return
            self.sent.append(f["client_id"])
            self.changed.set()

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.stream.close()
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader


class Inbox:
    """A receiving socket: collects ``chat.message`` events in arrival order."""

    def __init__(self, stream: StreamClient) -> None:
        self.stream = stream
        self.messages: list[dict[str, Any]] = []
        self.event_ids: list[int] = []
        self.failure: BaseException | None = None
        self.changed = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None

    async def open(self, cursor: int | None) -> int:
        """Connect, register (with ``cursor``), then collect events in the background."""
        await self.stream.connect()
        position = await self.stream.register(cursor)
        self._reader = asyncio.create_task(self._read())
        return position

    async def _read(self) -> None:
        try:
            while True:
                event = await self.stream.next_event()
                self.event_ids.append(event["id"])
                if event["kind"] == "chat.message":
                    self.messages.append(event["data"])
                self.changed.set()
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # a closed stream: the test reports it
            self.failure = exc
            self.changed.set()

    def client_ids(self, conversation_id: str) -> list[str]:
        return [m["client_id"] for m in self.messages if m["conversation_id"] == conversation_id]

    async def wait_for(self, conversation_id: str, client_ids: set[str], who: str) -> None:
        def arrived() -> bool:
            if self.failure is not None:
                raise AssertionError(f"{who}'s stream failed: {self.failure!r}")
            return client_ids <= set(self.client_ids(conversation_id))

        await until(self.changed, arrived, f"{who} to receive {len(client_ids)} messages")

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        with contextlib.suppress(Exception):
            await self.stream.close()


def assert_once_in_order(
    messages: list[dict[str, Any]], conversation_id: str, client_ids: list[str], first_seq: int
) -> None:
    """Exactly ``client_ids`` arrived, once each, with contiguous seqs in arrival order."""
    mine = [m for m in messages if m["conversation_id"] == conversation_id]
    got = [m["client_id"] for m in mine]
    assert len(got) == len(set(got)), "a message arrived twice"
    assert sorted(got) == sorted(client_ids)
    assert [m["seq"] for m in mine] == list(range(first_seq, first_seq + len(client_ids)))


async def history(client: CourtyardClient, conversation_id: str) -> list[dict[str, Any]]:
    """The whole history, oldest first, over HTTP."""
    items: list[dict[str, Any]] = []
    after = 0
    while True:
        page = await client.messages(conversation_id, after=after, limit=200)
        items.extend(page["items"])
        if page["next_cursor"] is None:
            return items
        after = int(page["next_cursor"])


# ---- the scenario -------------------------------------------------------------------------


def interleave(direct: str, group: str, to_direct: list[str], to_group: list[str]) -> list[Any]:
    """Send frames alternating between the two conversations, so both are always in flight."""
    return [
        f
        for d, g in zip(to_direct, to_group, strict=True)
        for f in (frame(direct, d), frame(group, g))
    ]


class Scenario:
    """Alice sends from node A (then B); Bob and Carol read on node B (Carol, at the end, on a
    restarted node A). ``direct`` is Alice-Bob, ``group`` is the three of them."""

    def __init__(self, nodes: list[ServerProcess], database_url: str, tmp_path: Path) -> None:
        self.nodes = nodes
        self.node_a, self.node_b = nodes
        self.database_url = database_url
        self.tmp_path = tmp_path
        self.alice = CourtyardClient(self.node_a.url)
        self.bob = CourtyardClient(self.node_b.url)
        self.carol = CourtyardClient(self.node_b.url)
        self.sockets: list[Sender | Inbox] = []
        self.direct = self.group = ""
        self.sent_direct: list[str] = []  # client ids, in the order first sent
        self.sent_group: list[str] = []

    async def sender(self, node: ServerProcess) -> Sender:
        stream = self.alice.stream(ws(node))
        await stream.connect()
        await stream.register(None)
        sender = Sender(stream)
        self.sockets.append(sender)
        return sender

    async def inbox(
        self, client: CourtyardClient, node: ServerProcess, cursor: int | None
    ) -> Inbox:
        inbox = Inbox(client.stream(ws(node)))
        self.sockets.append(inbox)
        position = await inbox.open(cursor)
        assert cursor is None or position == cursor  # a resume starts where it is told to
        return inbox

    async def close(self) -> None:
        for socket in self.sockets:
            await socket.close()
        for client in (self.alice, self.bob, self.carol):
            await client.aclose()

    async def set_up(self) -> None:
        for client, handle in ((self.alice, "alice"), (self.bob, "bob"), (self.carol, "carol")):
            registered = await client.register(handle, PASSWORD)
            client.account = registered["account"]  # type: ignore[attr-defined]  # for me()
        await befriend(self.alice, self.bob)
        await befriend(self.alice, self.carol)
        bob_id, carol_id = me(self.bob)["id"], me(self.carol)["id"]
        self.direct = (await self.alice.open_direct(bob_id))["id"]
        self.group = (await self.alice.create_group("Three", [bob_id, carol_id]))["id"]
        self.bob_in = await self.inbox(self.bob, self.node_b, None)
        self.carol_in = await self.inbox(self.carol, self.node_b, None)

    async def assert_delivered_once_in_order(self) -> None:
        """Everything sent so far reached Bob and Carol on node B exactly once, in seq order."""
        await self.bob_in.wait_for(self.direct, set(self.sent_direct), "bob")
        await self.bob_in.wait_for(self.group, set(self.sent_group), "bob")
        await self.carol_in.wait_for(self.group, set(self.sent_group), "carol")
        assert_once_in_order(self.bob_in.messages, self.direct, self.sent_direct, 1)
        assert_once_in_order(self.bob_in.messages, self.group, self.sent_group, 1)
        assert_once_in_order(self.carol_in.messages, self.group, self.sent_group, 1)

    async def act_a_pipelined_sends_cross_nodes(self) -> None:
        to_direct = [f"a-d-{i:03d}" for i in range(N)]
        to_group = [f"a-g-{i:03d}" for i in range(N)]
        self.sent_direct += to_direct
        self.sent_group += to_group
        sender = await self.sender(self.node_a)
        frames = interleave(self.direct, self.group, to_direct, to_group)
        await sender.send_all(frames, window=len(frames))  # everything at once
        await until(sender.changed, lambda: len(sender.acks) == len(frames), "every ack")
        assert not sender.errors
        acked = sender.acked
        assert len(acked) == len(sender.acks) == 2 * N, "an ack came twice"
        await self.assert_delivered_once_in_order()
        for m in self.bob_in.messages + self.carol_in.messages:
            assert acked[m["client_id"]] == m["seq"], "the ack and the event disagree"
        await sender.close()

    async def act_b_node_a_killed_mid_stream(self) -> None:
        to_direct = [f"b-d-{i:03d}" for i in range(N)]
        to_group = [f"b-g-{i:03d}" for i in range(N)]
        frames = interleave(self.direct, self.group, to_direct, to_group)
        sender = await self.sender(self.node_a)
        sending = asyncio.create_task(sender.send_all(frames, window=WINDOW))
        await until(
            sender.changed,
            lambda: len(sender.acks) >= KILL_AFTER and sender.in_flight >= WINDOW // 2,
            "acks on node A, and sends in flight",
        )
        in_flight_at_kill = sender.in_flight
        self.node_a.kill()
        await sending
        await until(sender.changed, sender.closed.is_set, "the dead node's socket to close")
        assert not sender.errors
        acked = sender.acked  # every ack that arrived was sent after its commit
        assert len(acked) == len(sender.acks), "an ack came twice"
        assert in_flight_at_kill > 0, "the kill found no send in flight"
        assert set(sender.sent) - set(acked), "every send was acknowledged before the kill"
        assert KILL_AFTER <= len(acked) < 2 * N

        # Everything acknowledged reaches node B, live and in its history; nothing twice.
        for conversation_id, ids in ((self.direct, to_direct), (self.group, to_group)):
            acked_here = {c for c in ids if c in acked}
            await self.bob_in.wait_for(conversation_id, acked_here, "bob")
            if conversation_id == self.group:
                await self.carol_in.wait_for(conversation_id, acked_here, "carol")
            stored = await history(self.bob, conversation_id)
            stored_ids = [m["client_id"] for m in stored]
            assert len(stored_ids) == len(set(stored_ids)), "history holds a duplicate"
            by_client = {m["client_id"]: m["seq"] for m in stored}
            assert {c: by_client.get(c) for c in acked_here} == {c: acked[c] for c in acked_here}

        # Alice moves to node B and resends, with the same client ids, what she has no ack
        # for; and, interleaved in the original order, what she has (as a client that lost its
        # acks would): the same group commits then mix new sends with replayed ones.
        self.resender = resender = await self.sender(self.node_b)
        await resender.send_all(frames, window=len(frames))
        await until(resender.changed, lambda: len(resender.acks) == len(frames), "the resends")
        assert not resender.errors
        assert len(resender.acked) == len(resender.acks) == 2 * N
        assert {c: s for c, s in resender.acks if c in acked} == acked, "a resend made a copy"
        final = resender.acked
        for ids in (to_direct, to_group):
            assert sorted(final[c] for c in ids) == list(range(N + 1, 2 * N + 1))

        self.sent_direct += to_direct
        self.sent_group += to_group
        await self.assert_delivered_once_in_order()
        for m in self.bob_in.messages + self.carol_in.messages:
            assert final.get(m["client_id"], m["seq"]) == m["seq"]
        for conversation_id, ids in (
            (self.direct, self.sent_direct),
            (self.group, self.sent_group),
        ):
            stored = await history(self.bob, conversation_id)
            assert sorted(m["client_id"] for m in stored) == sorted(ids)
            assert [m["seq"] for m in stored] == list(range(1, 2 * N + 1))

    async def act_c_resume_on_another_node(self) -> None:
        await asyncio.sleep(0.3)  # nothing else is on its way to Carol
        assert len(self.carol_in.event_ids) == len(set(self.carol_in.event_ids))
        await self.carol_in.close()
        cursor = self.carol_in.stream.cursor
        assert cursor is not None
        restarted = start_node(self.database_url, self.tmp_path / "node0", port=self.node_a.port)
        self.nodes.append(restarted)  # stopped by the fixture
        ready = asyncio.create_task(asyncio.to_thread(restarted.wait_ready))

        # Sent through node B while Carol is away, then while her replay runs on node A.
        resender = self.resender
        missed = [f"c-g-{i:03d}" for i in range(MISSED)]
        live = [f"c-live-{i:03d}" for i in range(LIVE)]
        await resender.send_all([frame(self.group, c) for c in missed], window=MISSED)
        await until(resender.changed, lambda: len(resender.acks) == len(resender.sent), "acks")
        await ready
        carol_back = await self.inbox(self.carol, restarted, cursor)
        await resender.send_all([frame(self.group, c) for c in live], window=LIVE)
        await until(resender.changed, lambda: len(resender.acks) == len(resender.sent), "acks")
        assert not resender.errors

        await carol_back.wait_for(self.group, set(missed + live), "carol")
        await asyncio.sleep(0.3)  # a duplicate would arrive now
        assert_once_in_order(carol_back.messages, self.group, missed + live, 2 * N + 1)
        assert carol_back.event_ids == sorted(set(carol_back.event_ids))
        assert min(carol_back.event_ids) > cursor


async def test_chats_across_nodes_survive_a_killed_node_and_resume_anywhere(
    nodes: list[ServerProcess], cluster_database: str, tmp_path: Path
) -> None:
    scenario = Scenario(nodes, cluster_database, tmp_path)
    try:
        async with asyncio.timeout(40):
            await scenario.set_up()
            await scenario.act_a_pipelined_sends_cross_nodes()
            await scenario.act_b_node_a_killed_mid_stream()
            await scenario.act_c_resume_on_another_node()
    finally:
        await scenario.close()
