"""Two server processes on one PostgreSQL database and one Redis: events written on node A
reach a socket on node B in order, and every request node A acknowledged before it was
killed (SIGKILL) arrives, live and on resume. Bounded load, loopback only."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from courtyard.client import CourtyardClient
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
    name = f"courtyard_nodes_{uuid.uuid4().hex[:10]}"

    async def admin(statement: str) -> None:
        engine = create_async_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
        async with engine.connect() as conn:
            await conn.execute(text(statement))
        await engine.dispose()

    run_blocking(lambda: admin(f'CREATE DATABASE "{name}"'))
    yield POSTGRES_URL.rsplit("/", 1)[0] + f"/{name}"
    run_blocking(lambda: admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_node(database_url: str, data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COURTYARD_")}
    env.update(
        {
            "COURTYARD_ENV": "test",
            "COURTYARD_SECRET_KEY": "multi-node-test-secret-key-0123456789abcdef",
            "COURTYARD_DATABASE_URL": database_url,
            "COURTYARD_REDIS_URL": REDIS_URL,
            "COURTYARD_DATA_DIR": str(data_dir),
            "COURTYARD_PORT": str(port),
            "COURTYARD_ARGON2_TIME_COST": "1",
            "COURTYARD_ARGON2_MEMORY_COST_KIB": "64",
            "COURTYARD_ARGON2_PARALLELISM": "1",
            "COURTYARD_LOG_LEVEL": "warning",
        }
    )
    return subprocess.Popen(
        [sys.executable, "-m", "courtyard.cli", "serve"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def wait_ready(base: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    async with httpx.AsyncClient() as http:
        while True:
            with contextlib.suppress(httpx.TransportError):
                if (await http.get(f"{base}/readyz", timeout=2)).status_code == 200:
                    return
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"node at {base} did not come up")
            await asyncio.sleep(0.1)


@pytest.fixture
async def nodes(cluster_database: str, tmp_path: Path) -> AsyncIterator[list[tuple[str, object]]]:
    ports = [free_port(), free_port()]
    # One after the other: both would migrate (under an advisory lock) at start anyway.
    processes = []
    try:
        for i, port in enumerate(ports):
            process = start_node(cluster_database, tmp_path / f"node{i}", port)
            processes.append(process)
            await wait_ready(f"http://127.0.0.1:{port}", process)
        yield [(f"127.0.0.1:{port}", p) for port, p in zip(ports, processes, strict=True)]
    finally:
        for process in processes:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


async def user(address: str, handle: str) -> CourtyardClient:
    client = CourtyardClient(f"http://{address}")
    await client.register(handle, PASSWORD)
    return client


async def test_events_cross_nodes_and_survive_a_killed_writer(
    nodes: list[tuple[str, subprocess.Popen[bytes]]],
) -> None:
    (a, node_a), (b, _node_b) = nodes
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
        node_a.send_signal(signal.SIGKILL)
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
