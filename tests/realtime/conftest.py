"""A real uvicorn server on a loopback port, serving the test's app in the test's loop.

httpx has no WebSocket client, so sockets go through ``websockets`` to this server while the
HTTP calls keep using the in-process clients of ``make_user``.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator

import pytest
import uvicorn
from fastapi import FastAPI

from courtyard.client import CourtyardClient, StreamClient


@pytest.fixture
async def stream_url(app: FastAPI) -> AsyncIterator[str]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, lifespan="off", log_level="warning", ws="websockets-sansio")
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
async def open_stream(stream_url: str) -> AsyncIterator[object]:
    """``await open_stream(client)``: a connected, authenticated StreamClient (closed after)."""
    streams: list[StreamClient] = []

    async def factory(client: CourtyardClient) -> StreamClient:
        stream = await client.stream(stream_url).connect()
        streams.append(stream)
        return stream

    yield factory
    for stream in streams:
        with contextlib.suppress(Exception):
            await stream.close()
