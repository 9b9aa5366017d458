"""The event stream: a WebSocket ``StreamClient`` and the HTTP fallback ``events(after)``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from courtyard.client._base import BaseClient
from courtyard.core import json


class StreamError(Exception):
    """The server sent an error frame (its ``code``) or closed the stream."""

    def __init__(self, code: str, message: str, close_code: int | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.close_code = close_code


class StreamClient:
    """One connection to ``/api/v1/stream`` (protocol: docs/events.md).

    ``cursor`` is the last event id received (or the position ``register`` returned): pass it
    to the next ``register`` to resume without a gap.
    """

    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.token = token
        self.cursor: int | None = None
        self._ws: ClientConnection | None = None

    @property
    def ws(self) -> ClientConnection:
        assert self._ws is not None, "connect() first"
        return self._ws

    async def connect(self) -> StreamClient:
        self._ws = await connect(self.url, max_size=2**22, ping_interval=None)
        await self.send({"type": "auth", "token": self.token})
        return self

    async def __aenter__(self) -> StreamClient:
        return await self.connect()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()

    async def send(self, frame: dict[str, Any]) -> None:
        await self.ws.send(json.dumps_str(frame))

    async def receive(self) -> dict[str, Any]:
        """The next frame; error frames raise ``StreamError``."""
        from websockets.exceptions import ConnectionClosed

        try:
            raw = await self.ws.recv()
        except ConnectionClosed as exc:
            rcvd = exc.rcvd
            code = rcvd.code if rcvd is not None else None
            reason = rcvd.reason if rcvd is not None else "closed"
            raise StreamError(reason or "closed", "The stream was closed.", code) from exc
        frame: dict[str, Any] = json.loads(raw)
        if frame.get("type") == "error":
            error = frame.get("error", {})
            raise StreamError(str(error.get("code")), str(error.get("message")))
        return frame

    async def register(self, cursor: int | None = None) -> int:
        """Register; with a cursor, the events after it are replayed first. Returns the cursor."""
        await self.send({"type": "register", "cursor": cursor})
        frame = await self.receive()
        if frame.get("type") != "registered":
            raise StreamError("unexpected_frame", f"expected `registered`, got {frame!r}")
        self.cursor = int(frame["cursor"])
        return self.cursor

    async def next_event(self, *, answer_pings: bool = True) -> dict[str, Any]:
        """The next event frame (pings are answered and skipped)."""
        while True:
            frame = await self.receive()
            if frame.get("type") == "event":
                self.cursor = int(frame["id"])
                return frame
            if frame.get("type") == "ping" and answer_pings:
                await self.send({"type": "pong"})

    async def events(self) -> AsyncIterator[dict[str, Any]]:
        while True:
            yield await self.next_event()

    async def ack(self, stream_id: int | None = None) -> None:
        await self.send({"type": "ack", "id": stream_id if stream_id is not None else self.cursor})


class RealtimeClient(BaseClient):
    async def events(self, after: int = 0, *, limit: int = 100) -> dict[str, Any]:
        """The HTTP fallback: ``{"items": [{id, kind, data, created_at}], "cursor"}``."""
        result: dict[str, Any] = await self.request(
            "GET", "/api/v1/events", params={"after": after, "limit": limit}
        )
        return result

    def stream(self, url: str) -> StreamClient:
        """A stream client for this client's session; ``url`` is the ``ws://…/api/v1/stream``."""
        assert self.token, "log in first"
        return StreamClient(url, self.token)
