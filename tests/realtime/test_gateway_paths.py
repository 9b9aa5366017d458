"""The gateway's two ways of serving a registered socket, held to the same protocol.

Under uvicorn's sans-I/O protocol a connection reads frames as uvicorn parses them (no reader
task) and writes queued frames to the transport from a callback; under any other server (here:
a ``send`` wrapped so the protocol cannot be reached) it uses a reader task and ``send_text``.
Both keep at most ``IN_FLIGHT_MAX`` handler frames unanswered, in order, and both answer pings,
deliver events and close a slow reader with 4409.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI

from courtyard.client import CourtyardClient, StreamClient, StreamError
from courtyard.container import Services
from courtyard.realtime.gateway import IN_FLIGHT_MAX, StreamConnection
from courtyard.realtime.model import EventDraft
from tests.conftest import UserFactory

Reply = Callable[[dict[str, Any] | None], None]


@pytest.fixture(params=["wire", "asgi"])
async def stream_url(request: pytest.FixtureRequest, app: FastAPI) -> AsyncIterator[str]:
    """A uvicorn server; ``asgi`` hides uvicorn's protocol behind a wrapped ``send``."""
    if request.param == "wire":
        served: Any = app
    else:

        async def served(scope: Any, receive: Any, send: Any) -> None:
            async def wrapped(message: Any) -> None:
                await send(message)

            await app(scope, receive, wrapped)

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(served, lifespan="off", log_level="warning", ws="websockets-sansio")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:  # noqa: ASYNC110 - uvicorn's Server offers no event to await
        await asyncio.sleep(0.01)
    yield f"ws://127.0.0.1:{port}/api/v1/stream"
    server.should_exit = True
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.wait_for(task, 10)
    sock.close()


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    return {"ws_heartbeat_seconds": 0.2, "ws_idle_timeout_seconds": 1.0, "ws_send_queue_max": 400}


def connections(services: Services, client: CourtyardClient) -> list[StreamConnection]:
    account: dict[str, str] = client.account  # type: ignore[attr-defined]
    found: Any = services.tailer._by_account.get(account["id"], ())
    return list(found)


async def receive_until(stream: StreamClient, kind: str) -> dict[str, Any]:
    async with asyncio.timeout(5):
        while True:
            frame = await stream.receive()
            if frame["type"] == kind:
                found: dict[str, Any] = frame
                return found
            if frame["type"] == "ping":
                await stream.send({"type": "pong"})


async def test_handler_frames_beyond_the_limit_wait_and_keep_their_order(
    request: pytest.FixtureRequest,
    make_user: UserFactory,
    services: Services,
    open_stream: Any,
) -> None:
    taken: list[int] = []
    replies: list[Callable[[], None]] = []

    def hold(_actor: Any, frame: dict[str, Any], reply: Reply) -> None:
        taken.append(frame["n"])
        replies.append(lambda: reply({"type": "held_ok", "n": frame["n"]}))

    services.realtime.frame_handlers["hold"] = hold
    try:
        alice = await make_user("alice")
        stream = await open_stream(alice)
        await stream.register(None)
        [connection] = connections(services, alice)
        wire = request.node.callspec.params["stream_url"] == "wire"
        assert (connection._protocol is not None) is wire
        total = IN_FLIGHT_MAX + 40
        for n in range(total):
            await stream.send({"type": "hold", "n": n})
        async with asyncio.timeout(5):
            while len(taken) < IN_FLIGHT_MAX:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
        await asyncio.sleep(0.2)
        assert taken == list(range(IN_FLIGHT_MAX))  # the rest wait: no answer has come
        async with asyncio.timeout(5):
            while len(taken) < total or replies:
                if not replies:
                    await asyncio.sleep(0.01)
                    continue
                replies.pop(0)()
        assert taken == list(range(total))
        got = [(await receive_until(stream, "held_ok"))["n"] for _ in range(total)]
        assert got == list(range(total))
    finally:
        del services.realtime.frame_handlers["hold"]


async def test_frames_right_behind_register_are_handled(
    make_user: UserFactory, services: Services, open_stream: Any
) -> None:
    def echo(_actor: Any, frame: dict[str, Any], reply: Reply) -> None:
        reply({"type": "echo", "n": frame["n"]})

    services.realtime.frame_handlers["echo"] = echo
    try:
        alice = await make_user("alice")
        stream = await open_stream(alice)
        await stream.send({"type": "register", "cursor": 0})
        for n in range(3):
            await stream.send({"type": "echo", "n": n})
        await receive_until(stream, "registered")
        got = [(await receive_until(stream, "echo"))["n"] for _ in range(3)]
        assert got == [0, 1, 2]
    finally:
        del services.realtime.frame_handlers["echo"]


async def test_pings_events_and_resync_on_either_path(
    make_user: UserFactory, services: Services, open_stream: Any
) -> None:
    alice = await make_user("alice")
    account: dict[str, str] = alice.account  # type: ignore[attr-defined]
    stream = await open_stream(alice)
    cursor = await stream.register(None)
    assert (await receive_until(stream, "ping")) == {"type": "ping"}
    await stream.send({"type": "pong"})
    async with services.db.write() as tx:
        [one] = await services.realtime.append(
            tx, [EventDraft(kind="test.one", payload={}, account_id=account["id"])]
        )
    assert (await receive_until(stream, "event"))["id"] == one
    await stream.ack(one)
    drafts = [EventDraft(kind="test.n", payload={}, account_id=account["id"]) for _ in range(500)]
    async with services.db.write() as tx:
        await services.realtime.append(tx, drafts)
    with pytest.raises(StreamError) as caught:
        await receive_until(stream, "never")
    assert caught.value.code == "resync"
    assert cursor < one
    assert connections(services, alice) == []
