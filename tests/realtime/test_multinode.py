"""Two server processes on one PostgreSQL database and one Redis: events written on node A
reach a socket on node B in order, and every request node A acknowledged before it was
killed (SIGKILL) arrives, live and on resume. Bounded load, loopback only."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from courtyard.client import CourtyardClient, StreamClient, StreamError
from courtyard.testing import ServerProcess, create_scratch_database, drop_scratch_database
from tests.conftest import POSTGRES_URL, REDIS_URL, _required, run_blocking

PASSWORD = "correct horse battery staple"


@pytest.fixture
def cluster_database() -> Iterator[str]:
    """A fresh PostgreSQL database that the two nodes migrate themselves."""
    if not POSTGRES_URL or not REDIS_URL:
        for name, value in (("POSTGRES", POSTGRES_URL), ("REDIS", REDIS_URL)):
            if not value and _required(name):
                pytest.fail(f"COURTYARD_TEST_REQUIRE_{name} is set but its URL is not")
        pytest.skip("the multi-node test needs PostgreSQL and Redis")
    url = run_blocking(lambda: create_scratch_database(POSTGRES_URL, "courtyard_nodes"))
    assert isinstance(url, str)
    yield url
    run_blocking(lambda: drop_scratch_database(POSTGRES_URL, url))


@pytest.fixture
async def nodes(cluster_database: str, tmp_path: Path) -> AsyncIterator[list[ServerProcess]]:
    # One after the other: both would migrate (under an advisory lock) at start anyway.
    servers: list[ServerProcess] = []
    try:
        for i in range(2):
            server = ServerProcess(
                database_url=cluster_database,
                data_dir=tmp_path / f"node{i}",
                env={"COURTYARD_REDIS_URL": REDIS_URL},
            )
            servers.append(server)
            await asyncio.to_thread(server.wait_ready)
        yield servers
    finally:
        for server in servers:
            server.stop()


async def user(address: str, handle: str) -> CourtyardClient:
    client = CourtyardClient(f"http://{address}")
    await client.register(handle, PASSWORD)
    return client


async def read_until_closed(stream: StreamClient) -> None:
    while True:
        await stream.receive()


async def test_events_cross_nodes_and_survive_a_killed_writer(
    nodes: list[ServerProcess],
) -> None:
    node_a = nodes[0]
    a, b = (node.url.removeprefix("http://") for node in nodes)
    clients: list[CourtyardClient] = []
    try:
        receiver = await user(b, "receiver")
        clients.append(receiver)
        me = await receiver.me()
        senders = [await user(a, f"sender_{i}") for i in range(30)]
        clients.extend(senders)
        stream = receiver.stream(f"ws://{b}/api/v1/stream")
        await stream.connect()
        start = await stream.register(None)

        # 1. Requests sent through node A arrive on node B's socket, in order.
        first = [await s.send_friend_request(account_id=me["id"]) for s in senders[:5]]
        got = [await asyncio.wait_for(stream.next_event(), 10) for _ in first]
        assert [e["data"]["request"]["id"] for e in got] == [r["id"] for r in first]
        assert [e["id"] for e in got] == sorted(e["id"] for e in got)

        # 1b. A session revoked through node A loses its socket on node B at once (Redis
        # carries the announcement; the periodic check is a minute away).
        phone = CourtyardClient(f"http://{b}")
        laptop = CourtyardClient(f"http://{a}")
        clients.extend([phone, laptop])
        await phone.login("receiver", PASSWORD)
        await laptop.login("receiver", PASSWORD)
        phone_stream = phone.stream(f"ws://{b}/api/v1/stream")
        await phone_stream.connect()
        await phone_stream.register(None)
        [phone_session] = [s["id"] for s in await phone.sessions() if s["current"]]
        await laptop.revoke_session(phone_session)
        with pytest.raises(StreamError) as revoked:
            await asyncio.wait_for(read_until_closed(phone_stream), 3)
        assert revoked.value.code == "unauthenticated"

        # 2. Node A is killed while requests stream through it.
        acknowledged: list[str] = []

        async def send_all() -> None:
            for sender in senders[5:]:
                try:
                    sent = await sender.send_friend_request(account_id=me["id"])
                except (httpx.TransportError, OSError):
                    return
                acknowledged.append(sent["id"])

        sending = asyncio.create_task(send_all())
        while len(acknowledged) < 8 and not sending.done():  # noqa: ASYNC110 - polling a list
            await asyncio.sleep(0.005)
        node_a.kill()
        await sending
        assert 8 <= len(acknowledged) < 25
        live: list[str] = []
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(5):
                while not set(acknowledged) <= set(live):
                    live.append((await stream.next_event())["data"]["request"]["id"])
        assert set(acknowledged) <= set(live)
        await stream.close()

        # 3. Resuming on node B replays exactly the same events, in order, once each.
        again = receiver.stream(f"ws://{b}/api/v1/stream")
        await again.connect()
        await again.register(start)
        replayed = []
        for _ in range(len(got) + len(live)):
            replayed.append(await asyncio.wait_for(again.next_event(), 10))
        ids = [e["data"]["request"]["id"] for e in replayed]
        assert ids == [r["id"] for r in first] + live
        assert [e["id"] for e in replayed] == sorted({e["id"] for e in replayed})
        await again.close()
    finally:
        for client in clients:
            await client.aclose()
