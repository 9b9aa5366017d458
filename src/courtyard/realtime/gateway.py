"""The WebSocket gateway at ``/api/v1/stream`` (protocol: docs/events.md).

A connection authenticates (session cookie on the upgrade, or a first ``auth`` frame with a
bearer token), registers with a cursor, gets the missed events replayed from the database and
then live events from this node's tailer. The tailer hands each connection an already
serialised frame through ``deliver``, which never blocks: frames wait in a bounded queue, and
a connection whose queue overflows is closed with 4409 ("resync") so a slow reader never holds
up the tailer or anyone else.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from typing import Any
from urllib.parse import urlsplit

from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from courtyard.accounts.model import Actor
from courtyard.container import Services
from courtyard.core import json
from courtyard.governance.model import Capability
from courtyard.realtime.model import WireFrame, event_frame

log = logging.getLogger(__name__)

SESSION_COOKIE = "cy_session"

# Close codes (docs/events.md).
CLOSE_NORMAL = 1000
CLOSE_GOING_AWAY = 1001
CLOSE_PROTOCOL = 4400
CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_IDLE = 4408
CLOSE_RESYNC = 4409

REPLAY_BATCH = 500
# Frames handled by other pillars (a send) that may be in progress at once per connection;
# beyond this the connection stops reading, which pushes back on the client through TCP.
IN_FLIGHT_MAX = 256
PING = json.dumps_str({"type": "ping"})


class ProtocolError(Exception):
    def __init__(self, close_code: int, code: str, message: str) -> None:
        super().__init__(message)
        self.close_code = close_code
        self.code = code
        self.message = message


class StreamConnection:
    """One registered socket: its account, its bounded send queue, its acknowledged position."""

    def __init__(self, actor: Actor, token: str, queue_max: int) -> None:
        self.actor = actor
        self.token = token  # kept in memory only, to check the session again now and then
        self._account_id = actor.id
        self._queue: deque[tuple[int, WireFrame]] = deque()
        self._queue_max = queue_max
        self._ready = asyncio.Event()
        self.overflowed = False
        self.acked = 0

    @property
    def account_id(self) -> str:
        return self._account_id

    def deliver(self, stream_id: int, frame: WireFrame) -> None:
        if self.overflowed:
            return
        if len(self._queue) >= self._queue_max:
            self.overflowed = True
            self._queue.clear()
        else:
            self._queue.append((stream_id, frame))
        self._ready.set()

    def record_ack(self, ack: object) -> None:
        if isinstance(ack, int) and not isinstance(ack, bool):
            self.acked = max(self.acked, ack)

    def deliver_ephemeral(self, frame: WireFrame) -> None:
        """A frame outside the stream (typing, a send's ack): never replayed, never counted."""
        if self.overflowed:
            return
        if len(self._queue) >= self._queue_max:
            self.overflowed = True
            self._queue.clear()
        else:
            self._queue.append((0, frame))
        self._ready.set()

    def take(self) -> list[tuple[int, WireFrame]]:
        frames = list(self._queue)
        self._queue.clear()
        self._ready.clear()
        return frames

    def wake(self) -> None:
        self._ready.set()

    def take_after(self, sent: int) -> tuple[list[WireFrame], int]:
        """Queued frames to send now, and the new last stream id: stream frames at or below
        ``sent`` were replayed already; frames outside the stream (id 0) always go."""
        out: list[WireFrame] = []
        for stream_id, frame in self.take():
            if stream_id == 0:  # an ack, a typing notice
                out.append(frame)
            elif stream_id > sent:
                out.append(frame)
                sent = stream_id
        return out, sent

    async def wait(self, seconds: float) -> None:
        if self._ready.is_set():
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):  # a timer, not a task as wait_for makes
                await self._ready.wait()


def _services(websocket: WebSocket) -> Services:
    services: Services = websocket.app.state.services
    return services


def _same_origin(websocket: WebSocket, services: Services) -> bool:
    """A cookie is only honoured from our own pages (no cross-site WebSocket hijacking)."""
    origin = websocket.headers.get("origin")
    if origin is None:
        return True  # not a browser
    allowed = {websocket.headers.get("host", "")}
    if services.settings.public_url:
        allowed.add(urlsplit(services.settings.public_url).netloc)
    return urlsplit(origin).netloc in allowed


async def _check_actor(services: Services, token: str) -> Actor:
    actor = await services.accounts.authenticate(token)
    if actor is None:
        raise ProtocolError(
            CLOSE_UNAUTHENTICATED, "unauthenticated", "The session is unknown or has ended."
        )
    capabilities = services.governance.capabilities(actor.standing)
    if not (capabilities.has(Capability.LOGIN) and capabilities.has(Capability.READ)):
        raise ProtocolError(
            CLOSE_FORBIDDEN, "capability_denied", "This account cannot read events right now."
        )
    return actor


async def _receive(websocket: WebSocket, seconds: float | None) -> dict[str, Any]:
    """The next frame, parsed. ``seconds=None`` waits without a timer: a registered
    connection's idle limit is enforced by its writer, and a frame already buffered then
    comes back without a turn of the event loop (a pipelining client's frames are read in
    one go, so they reach the same group commit)."""
    if seconds is None:
        raw = await websocket.receive()
    else:
        try:
            raw = await asyncio.wait_for(websocket.receive(), seconds)
        except TimeoutError:
            raise ProtocolError(
                CLOSE_IDLE, "idle_timeout", "Nothing was received in time."
            ) from None
    if raw["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(raw.get("code", CLOSE_NORMAL))
    data = raw.get("text") if raw.get("text") is not None else raw.get("bytes")
    try:
        message = json.loads(data or b"")
    except ValueError:
        raise ProtocolError(CLOSE_PROTOCOL, "malformed_json", "A frame is not JSON.") from None
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        raise ProtocolError(CLOSE_PROTOCOL, "invalid_frame", "A frame needs a string `type`.")
    return message


def _cursor(message: dict[str, Any]) -> int | None:
    cursor = message.get("cursor")
    if cursor is None:
        return None
    if isinstance(cursor, bool) or not isinstance(cursor, int) or cursor < 0:
        raise ProtocolError(
            CLOSE_PROTOCOL, "invalid_cursor", "`cursor` is a non-negative integer or null."
        )
    return cursor


async def _authenticate(
    websocket: WebSocket, services: Services
) -> tuple[Actor, str, dict[str, Any]]:
    """The actor (session cookie, or a first ``auth`` frame), its token and the next frame."""
    settings = services.settings
    token = websocket.cookies.get(SESSION_COOKIE, "")
    actor: Actor | None = None
    if token and _same_origin(websocket, services):
        try:
            actor = await _check_actor(services, token)
        except ProtocolError as exc:
            if exc.close_code != CLOSE_UNAUTHENTICATED:
                raise
            # A stale cookie: the client may still authenticate with an `auth` frame.
    message = await _receive(websocket, settings.ws_auth_timeout_seconds)
    if message["type"] == "auth":
        sent = message.get("token")
        if not isinstance(sent, str) or not sent:
            raise ProtocolError(CLOSE_UNAUTHENTICATED, "unauthenticated", "`token` is missing.")
        token = sent
        actor = await _check_actor(services, token)
        message = await _receive(websocket, settings.ws_auth_timeout_seconds)
    if actor is None:
        raise ProtocolError(
            CLOSE_UNAUTHENTICATED, "unauthenticated", "Authenticate first (`auth` frame)."
        )
    return actor, token, message


async def stream_endpoint(websocket: WebSocket) -> None:
    services = _services(websocket)
    settings = services.settings
    await websocket.accept()
    connection: StreamConnection | None = None
    try:
        actor, token, message = await _authenticate(websocket, services)
        if message["type"] != "register":
            raise ProtocolError(CLOSE_PROTOCOL, "not_registered", "Send `register` next.")
        cursor = _cursor(message)
        connection = StreamConnection(actor, token, settings.ws_send_queue_max)
        position = services.tailer.attach(connection)
        if cursor is None:
            await websocket.send_text(json.dumps_str({"type": "registered", "cursor": position}))
            threshold = position
        else:
            await websocket.send_text(json.dumps_str({"type": "registered", "cursor": cursor}))
            threshold = await _replay(websocket, services, connection, cursor)
        await _serve(websocket, services, connection, threshold)
    except ProtocolError as exc:
        await _close_with_error(websocket, exc)
    except WebSocketDisconnect:
        pass
    except Exception:  # a broken socket or a database error: close, never crash the server
        log.warning("stream connection ended by an unexpected error", exc_info=True)
        await _close_with_error(
            websocket, ProtocolError(1011, "internal_error", "The server could not continue.")
        )
    finally:
        if connection is not None:
            services.tailer.detach(connection)


async def _replay(
    websocket: WebSocket, services: Services, connection: StreamConnection, cursor: int
) -> int:
    """Send every event after ``cursor`` from the database; returns the last id sent.

    The connection is already attached, so events the tailer dispatches meanwhile wait in its
    queue; ``_serve`` drops those at or below the returned id (no gap, no duplicate).
    """
    last = cursor
    while True:
        batch = await services.realtime.events_for(connection.account_id, last, REPLAY_BATCH)
        for event in batch:
            await websocket.send_text(event_frame(event))
            last = event.id
        if len(batch) < REPLAY_BATCH:
            return last


# The server's own side of a socket, when it is uvicorn's sans-I/O protocol: frames already
# encoded are written to its transport in one call, skipping the per-frame ASGI send path.
WIRE_SCOPE_KEY = "courtyard.websocket_protocol"
# Bytes a connection may have waiting in its transport before it counts as too slow.
TRANSPORT_BUFFER_MAX = 4 * 1024 * 1024


class WireAccess:
    """ASGI middleware (outermost) noting uvicorn's protocol object in a WebSocket's scope.

    Sending a frame through Starlette and uvicorn costs a few dozen microseconds of Python
    and one system call each; a group message goes to hundreds of sockets, so the gateway
    writes the frames it has queued for a connection, pre-encoded once per event, in one
    ``transport.write``. Any other server (or a wrapped ``send``) falls back to ``send_text``.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "websocket":
            protocol = getattr(send, "__self__", None)
            if type(protocol).__name__ == "WebSocketsSansIOProtocol":
                scope = {**scope, WIRE_SCOPE_KEY: protocol}
        await self.app(scope, receive, send)


async def _send_frames(websocket: WebSocket, frames: list[WireFrame]) -> None:
    protocol = websocket.scope.get(WIRE_SCOPE_KEY)
    transport = getattr(protocol, "transport", None)
    if protocol is None or transport is None:
        for frame in frames:
            await websocket.send_text(frame.text)
        return
    if protocol.close_sent or transport.is_closing():
        raise WebSocketDisconnect(CLOSE_GOING_AWAY)
    transport.write(b"".join(frame.wire for frame in frames))
    if transport.get_write_buffer_size() > TRANSPORT_BUFFER_MAX:
        raise ProtocolError(CLOSE_RESYNC, "resync", "Too far behind: reconnect with your cursor.")


class _FrameDispatcher:
    """Hands other pillars' frames (a chat ``send``) to their handlers, at most
    ``IN_FLIGHT_MAX`` unanswered per connection (then the reader waits, and TCP pushes back on
    the client), and queues each answer (an ack) on the connection."""

    def __init__(self, services: Services, connection: StreamConnection) -> None:
        self.handlers = services.realtime.frame_handlers
        self._connection = connection
        self._in_flight = 0
        self._room = asyncio.Event()
        self._room.set()

    async def dispatch(self, message: dict[str, Any]) -> None:
        while self._in_flight >= IN_FLIGHT_MAX:
            self._room.clear()
            await self._room.wait()
        self._in_flight += 1
        try:
            self.handlers[message["type"]](self._connection.actor, message, self._reply)
        except Exception:  # a handler answers its own errors; anything else is a bug
            log.exception("frame handler failed")
            self._reply(None)

    def _reply(self, frame: dict[str, Any] | None) -> None:
        if frame is not None:
            self._connection.deliver_ephemeral(WireFrame(json.dumps_str(frame)))
        self._in_flight -= 1
        self._room.set()


async def _serve(
    websocket: WebSocket, services: Services, connection: StreamConnection, threshold: int
) -> None:
    settings = services.settings
    last_heard = time.monotonic()
    dispatcher = _FrameDispatcher(services, connection)

    async def read() -> None:
        nonlocal last_heard
        while True:
            message = await _receive(websocket, None)
            last_heard = time.monotonic()
            kind = message["type"]
            if kind == "ack":
                connection.record_ack(message.get("id"))
            elif kind in dispatcher.handlers:
                await dispatcher.dispatch(message)
            elif kind not in {"pong", "ping"}:  # both only show the client is there
                raise ProtocolError(CLOSE_PROTOCOL, "unknown_type", f"Unknown frame type {kind!r}.")

    async def write(reader: asyncio.Task[None]) -> None:
        sent = threshold
        next_ping = time.monotonic() + settings.ws_heartbeat_seconds
        next_check = time.monotonic() + settings.ws_reauth_seconds
        while True:
            now = time.monotonic()
            idle_at = last_heard + settings.ws_idle_timeout_seconds
            await connection.wait(max(0.0, min(next_ping, next_check, idle_at) - now))
            if reader.done():
                return
            if connection.overflowed:
                raise ProtocolError(
                    CLOSE_RESYNC, "resync", "Too far behind: reconnect with your cursor."
                )
            out, sent = connection.take_after(sent)
            if out:
                await _send_frames(websocket, out)
            now = time.monotonic()
            if now - last_heard >= settings.ws_idle_timeout_seconds:
                raise ProtocolError(CLOSE_IDLE, "idle_timeout", "No message from the client.")
            if now >= next_ping:
                await websocket.send_text(PING)
                next_ping = now + settings.ws_heartbeat_seconds
            if now >= next_check:
                # A revoked session or a restricted account loses its socket.
                connection.actor = await _check_actor(services, connection.token)
                next_check = time.monotonic() + settings.ws_reauth_seconds

    # The writer runs in this (the server's) task and only the reader gets its own: one task
    # fewer per socket is memory that 10,000 idle sockets do not hold.
    reader = asyncio.create_task(read())
    reader.add_done_callback(lambda _: connection.wake())
    try:
        await write(reader)
    finally:
        if not reader.done():
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader
    if not reader.cancelled() and reader.exception() is not None:
        raise reader.exception()  # type: ignore[misc]


async def _close_with_error(websocket: WebSocket, exc: ProtocolError) -> None:
    if websocket.client_state is not WebSocketState.CONNECTED:
        return
    with contextlib.suppress(Exception):
        frame = {"type": "error", "error": {"code": exc.code, "message": exc.message}}
        await websocket.send_text(json.dumps_str(frame))
        await websocket.close(code=exc.close_code, reason=exc.code)
