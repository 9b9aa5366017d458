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
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from courtyard.accounts.model import Actor
from courtyard.container import Services
from courtyard.core import json
from courtyard.governance.model import Capability
from courtyard.realtime.model import CursorExpired, StoredEvent, WireFrame, event_frame

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
CLOSE_CURSOR_EXPIRED = 4410

REPLAY_BATCH = 500
# Frames handled by other pillars (a send) that may be in progress at once per connection;
# beyond this the connection stops reading, which pushes back on the client through TCP.
IN_FLIGHT_MAX = 256
PING = WireFrame(json.dumps_str({"type": "ping"}))
RESYNC_MESSAGE = "Too far behind: reconnect with your cursor."
STREAM_PATH = "/api/v1/stream"


class ProtocolError(Exception):
    def __init__(self, close_code: int, code: str, message: str) -> None:
        super().__init__(message)
        self.close_code = close_code
        self.code = code
        self.message = message


class StreamConnection:
    """One registered socket: its account, its bounded send queue, its acknowledged position.

    Everything a connection holds lives here (``__slots__``, nothing allocated until traffic
    flows), because 10,000 idle sockets hold 10,000 of these. Under uvicorn's sans-I/O
    protocol the connection is also the protocol's inbox (``put_nowait``): received frames are
    handled as they are parsed, with no reader task, and queued frames are written to the
    transport by a callback, so an idle socket costs its server task and no other.
    """

    __slots__ = (
        "_handlers",
        "_held",
        "_in_flight",
        "_loop",
        "_protocol",
        "_queue",
        "_queue_max",
        "_room",
        "_scheduled",
        "_sent",
        "_waiter",
        "account_id",
        "acked",
        "actor",
        "failure",
        "last_heard",
        "overflowed",
        "recheck_due",
        "token",
    )

    def __init__(
        self,
        actor: Actor,
        token: str,
        queue_max: int,
        handlers: dict[str, Any] | None = None,
    ) -> None:
        self.actor = actor
        self.token = token  # kept in memory only, to check the session again now and then
        self.account_id = actor.id
        self.acked = 0
        self.overflowed = False
        self.recheck_due = False  # the session or the account changed: check before sleeping
        # Why the connection must end (a protocol error, a resync, the client gone), set by
        # callbacks and raised by the connection's task.
        self.failure: BaseException | None = None
        self.last_heard = time.monotonic()
        self._handlers: dict[str, Any] = handlers if handlers is not None else {}
        self._queue: deque[tuple[int, WireFrame]] | None = None  # created when frames come
        self._queue_max = queue_max
        self._loop = asyncio.get_running_loop()
        self._waiter: asyncio.Future[None] | None = None  # the task's sleep, when asleep
        self._protocol: Any = None  # uvicorn's sans-I/O protocol, once frames go to it directly
        self._sent = 0  # the last stream id written (wire mode)
        self._scheduled = False  # a flush is scheduled (wire mode)
        self._in_flight = 0  # handler frames not answered yet
        self._held: deque[dict[str, Any]] | None = None  # frames waiting for room (wire mode)
        self._room: asyncio.Future[None] | None = None  # the reader waiting for room (fallback)

    # -- the tailer's side: never blocks ---------------------------------------------------

    def deliver(self, stream_id: int, frame: WireFrame) -> None:
        if self.overflowed:
            return
        queue = self._queue
        if queue is None:
            queue = self._queue = deque()
        if len(queue) >= self._queue_max:
            self.overflowed = True
            self._queue = None
            self.fail(ProtocolError(CLOSE_RESYNC, "resync", RESYNC_MESSAGE))
            return
        queue.append((stream_id, frame))
        if self._protocol is not None:
            if not self._scheduled:
                self._scheduled = True
                self._loop.call_soon(self._flush)
        else:
            self.wake()

    def deliver_ephemeral(self, frame: WireFrame) -> None:
        """A frame outside the stream (typing, a send's ack): never replayed, never counted."""
        self.deliver(0, frame)

    def recheck(self) -> None:
        self.recheck_due = True
        self.wake()

    def record_ack(self, ack: object) -> None:
        if isinstance(ack, int) and not isinstance(ack, bool):
            self.acked = max(self.acked, ack)

    def take_after(self, sent: int) -> tuple[list[WireFrame], int]:
        """Queued frames to send now, and the new last stream id: stream frames at or below
        ``sent`` were replayed already; frames outside the stream (id 0) always go."""
        queue, self._queue = self._queue, None
        out: list[WireFrame] = []
        if queue is not None:
            for stream_id, frame in queue:
                if stream_id == 0:  # an ack, a typing notice
                    out.append(frame)
                elif stream_id > sent:
                    out.append(frame)
                    sent = stream_id
        return out, sent

    # -- the connection's task ---------------------------------------------------------------

    def fail(self, exc: BaseException) -> None:
        """End the connection with ``exc`` (the first reason wins), waking its task."""
        if self.failure is None:
            self.failure = exc
        self.wake()

    def wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def sleep(self, seconds: float) -> None:
        """Until woken (frames queued in fallback mode, a failure) or ``seconds`` have passed:
        a future and a timer handle, not a task."""
        if self.failure is not None or self.recheck_due or (self._protocol is None and self._queue):
            return
        waiter = self._waiter = self._loop.create_future()
        timer = self._loop.call_later(max(0.0, seconds), _resolve, waiter)
        try:
            await waiter
        finally:
            timer.cancel()
            self._waiter = None

    # -- wire mode: uvicorn's sans-I/O protocol, no reader task ----------------------------

    def attach_protocol(self, protocol: Any, sent: int) -> None:
        """Become ``protocol``'s inbox and write frames to its transport from now on."""
        self._sent = sent
        self._protocol = protocol
        pending = protocol.queue
        protocol.queue = self
        # Frames the client pipelined behind ``register`` are already in uvicorn's queue.
        while not pending.empty():
            self.put_nowait(pending.get_nowait())
        if self._held is None:
            protocol.transport.resume_reading()  # uvicorn paused it while frames were queued
        self._flush()

    def detach_protocol(self) -> None:
        """Drop the references to the socket (uvicorn's protocol keeps us as its inbox, which
        from now on ignores what it is handed)."""
        self._protocol = None
        self._queue = None
        self._held = None

    def put_nowait(self, message: dict[str, Any]) -> None:
        """uvicorn hands over each received message here (we are its ``queue``)."""
        protocol = self._protocol
        if protocol is None:
            return
        # uvicorn pauses reading after each message unless it believes reading is paused
        # already (it resumes once its queue is read); nothing waits in a queue here, so
        # reading goes on. Pausing for backpressure is ``_hold``'s, below.
        protocol.read_paused = True
        if message["type"] != "websocket.receive":
            self.fail(WebSocketDisconnect(message.get("code", CLOSE_NORMAL)))
            return
        if self.failure is not None:
            return
        try:
            frame = _parse(message)
        except ProtocolError as exc:
            self.fail(exc)
            return
        self.last_heard = time.monotonic()
        held = self._held
        if held is not None:
            held.append(frame)
        elif not self.handle(frame):
            self._held = deque((frame,))
            protocol.transport.pause_reading()  # TCP pushes back on the client

    def empty(self) -> bool:  # uvicorn's ``receive`` asks; nothing is ever queued here
        return True

    def _flush(self) -> None:
        self._scheduled = False
        queue = self._queue
        protocol = self._protocol
        if queue is None or protocol is None or self.failure is not None:
            return
        self._queue = None
        transport = protocol.transport
        if protocol.close_sent or transport.is_closing():
            self.fail(WebSocketDisconnect(CLOSE_GOING_AWAY))
            return
        sent = self._sent
        parts: list[bytes] = []
        for stream_id, frame in queue:
            if stream_id == 0:  # an ack, a typing notice, a ping
                parts.append(frame.wire)
            elif stream_id > sent:  # at or below: replayed already
                parts.append(frame.wire)
                sent = stream_id
        self._sent = sent
        if parts:
            transport.write(parts[0] if len(parts) == 1 else b"".join(parts))
            if transport.get_write_buffer_size() > TRANSPORT_BUFFER_MAX:
                self.fail(ProtocolError(CLOSE_RESYNC, "resync", RESYNC_MESSAGE))

    def _drain(self) -> None:
        """Handle held frames now that there is room; read the socket again once none wait."""
        held = self._held
        protocol = self._protocol
        if held is None or protocol is None:
            return
        while held and self.failure is None:
            if not self.handle(held[0]):
                return
            held.popleft()
        self._held = None
        protocol.transport.resume_reading()

    # -- frames from the client --------------------------------------------------------------

    def handle(self, frame: dict[str, Any]) -> bool:
        """Act on one frame; False when it is a handler's and ``IN_FLIGHT_MAX`` are unanswered
        (the caller keeps it and stops reading until ``_reply`` makes room)."""
        kind = frame["type"]
        if kind == "ack":
            self.record_ack(frame.get("id"))
        elif kind in self._handlers:
            if self._in_flight >= IN_FLIGHT_MAX:
                return False
            self._in_flight += 1
            try:
                self._handlers[kind](self.actor, frame, self._reply)
            except Exception:  # a handler answers its own errors; anything else is a bug
                log.exception("frame handler failed")
                self._reply(None)
        elif kind not in {"pong", "ping"}:  # both only show the client is there
            self.fail(
                ProtocolError(CLOSE_PROTOCOL, "unknown_type", f"Unknown frame type {kind!r}.")
            )
        return True

    def _reply(self, frame: dict[str, Any] | None) -> None:
        """A handler's answer (an ack, an error), queued like any frame; frees a place."""
        if frame is not None:
            self.deliver_ephemeral(WireFrame(json.dumps_str(frame)))
        self._in_flight -= 1
        if self._in_flight == IN_FLIGHT_MAX - 1:
            if self._held is not None:
                self._loop.call_soon(self._drain)
            room = self._room
            if room is not None and not room.done():
                room.set_result(None)

    async def room(self) -> None:
        """(Fallback mode) wait until a handler frame may be taken."""
        while self._in_flight >= IN_FLIGHT_MAX:
            self._room = self._loop.create_future()
            try:
                await self._room
            finally:
                self._room = None


def _resolve(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


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
    connection's idle limit is enforced by its task, and a frame already buffered then
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
    return _parse(raw)


def _parse(raw: Mapping[str, Any]) -> dict[str, Any]:
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
    """The route's endpoint (reached when ``WireAccess`` does not take the socket first)."""
    await _stream(websocket, None)


async def _stream(websocket: WebSocket, protocol: Any) -> None:
    services = _services(websocket)
    settings = services.settings
    await websocket.accept()
    if protocol is not None:
        # The handshake's request and response (headers and all) are not needed again.
        protocol.request = protocol.response = None
    connection: StreamConnection | None = None
    try:
        actor, token, message = await _authenticate(websocket, services)
        _forget_headers(websocket)
        if message["type"] != "register":
            raise ProtocolError(CLOSE_PROTOCOL, "not_registered", "Send `register` next.")
        cursor = _cursor(message)
        connection = StreamConnection(
            actor, token, settings.ws_send_queue_max, services.realtime.frame_handlers
        )
        position = services.tailer.attach(connection)
        if cursor is None:
            await websocket.send_text(json.dumps_str({"type": "registered", "cursor": position}))
            threshold = position
        else:
            # The first page before the answer: an expired cursor is refused, not registered.
            first = await _replay_page(services, connection, cursor)
            await websocket.send_text(json.dumps_str({"type": "registered", "cursor": cursor}))
            threshold = await _replay(websocket, services, connection, cursor, first)
        if protocol is not None and protocol.transport is not None:
            await _serve_wire(services, connection, protocol, threshold)
        else:
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
            connection.detach_protocol()


def _forget_headers(websocket: WebSocket) -> None:
    """The upgrade request's headers (cookies, user agent…) are only needed to authenticate:
    an idle socket should not keep them for hours."""
    websocket.scope["headers"] = []
    websocket.__dict__.pop("_headers", None)
    websocket.__dict__.pop("_cookies", None)


async def _replay_page(
    services: Services, connection: StreamConnection, after: int
) -> list[StoredEvent]:
    try:
        return await services.realtime.events_for(connection.account_id, after, REPLAY_BATCH)
    except CursorExpired as exc:
        raise ProtocolError(CLOSE_CURSOR_EXPIRED, exc.code, exc.message) from exc


async def _replay(
    websocket: WebSocket,
    services: Services,
    connection: StreamConnection,
    cursor: int,
    batch: list[StoredEvent],
) -> int:
    """Send every event after ``cursor`` from the database, starting with ``batch`` (the first
    page); returns the last id sent.

    The connection is already attached, so events the tailer dispatches meanwhile wait in its
    queue; they are dropped if at or below the returned id (no gap, no duplicate).
    """
    last = cursor
    while True:
        for event in batch:
            await websocket.send_text(event_frame(event))
            last = event.id
        if len(batch) < REPLAY_BATCH:
            return last
        batch = await _replay_page(services, connection, last)


# Bytes a connection may have waiting in its transport before it counts as too slow.
TRANSPORT_BUFFER_MAX = 4 * 1024 * 1024


class WireAccess:
    """ASGI middleware (outermost of ours) that takes ``/api/v1/stream`` sockets straight to
    the gateway, with uvicorn's protocol object when the server is uvicorn's sans-I/O one.

    Straight: below this, the exception middlewares, the exit stack and two routers would each
    keep a coroutine frame (and an exit stack's deque) alive for the socket's whole life.
    With the protocol, the gateway reads frames as uvicorn parses them (no reader task) and
    writes the frames it has queued for a connection, pre-encoded once per event, in one
    ``transport.write``: a group message goes to hundreds of sockets, and a send through
    Starlette and uvicorn costs a few dozen microseconds of Python and one system call each.
    Any other server (or a wrapped ``send``) gets the ASGI path (a reader task, ``send_text``).
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "websocket" and _route_path(scope) == STREAM_PATH:
            protocol = getattr(send, "__self__", None)
            if type(protocol).__name__ != "WebSocketsSansIOProtocol":
                protocol = None
            await _stream(WebSocket(scope, receive, send), protocol)
            return
        await self.app(scope, receive, send)


def _route_path(scope: Any) -> str:
    path: str = scope["path"]
    root = scope.get("root_path", "")
    if root and path.startswith(root + "/"):
        return path[len(root) :]
    return path


async def _check_again(services: Services, connection: StreamConnection) -> float:
    """The session and capabilities again (periodically, or now: they changed); a revoked
    session or a restricted account loses its socket. Returns when the next check is due."""
    connection.recheck_due = False
    connection.actor = await _check_actor(services, connection.token)
    return time.monotonic() + services.settings.ws_reauth_seconds


async def _serve_wire(
    services: Services, connection: StreamConnection, protocol: Any, threshold: int
) -> None:
    """A registered connection under uvicorn's sans-I/O protocol: frames are read and written
    by callbacks (``StreamConnection``); this task only keeps the heartbeat, the idle limit
    and the periodic session check, asleep on one timer in between."""
    settings = services.settings
    connection.attach_protocol(protocol, threshold)
    now = time.monotonic()
    next_ping = now + settings.ws_heartbeat_seconds
    next_check = now + settings.ws_reauth_seconds
    while True:
        if connection.failure is not None:
            raise connection.failure
        now = time.monotonic()
        idle_at = connection.last_heard + settings.ws_idle_timeout_seconds
        if now >= idle_at:
            raise ProtocolError(CLOSE_IDLE, "idle_timeout", "No message from the client.")
        if now >= next_ping:
            connection.deliver_ephemeral(PING)
            next_ping = now + settings.ws_heartbeat_seconds
        if now >= next_check or connection.recheck_due:
            next_check = await _check_again(services, connection)
            continue
        await connection.sleep(min(next_ping, next_check, idle_at) - now)


async def _serve(
    websocket: WebSocket, services: Services, connection: StreamConnection, threshold: int
) -> None:
    """A registered connection on any other ASGI server: a reader task, and the writer in
    this task."""
    settings = services.settings

    async def read() -> None:
        while True:
            message = await _receive(websocket, None)
            connection.last_heard = time.monotonic()
            while not connection.handle(message):
                await connection.room()
            if connection.failure is not None:
                return

    reader = asyncio.create_task(read())
    reader.add_done_callback(lambda _: connection.wake())
    sent = threshold
    next_ping = time.monotonic() + settings.ws_heartbeat_seconds
    next_check = time.monotonic() + settings.ws_reauth_seconds
    try:
        while True:
            now = time.monotonic()
            idle_at = connection.last_heard + settings.ws_idle_timeout_seconds
            await connection.sleep(min(next_ping, next_check, idle_at) - now)
            if reader.done():
                break
            if connection.failure is not None:
                raise connection.failure
            out, sent = connection.take_after(sent)
            for frame in out:
                await websocket.send_text(frame.text)
            now = time.monotonic()
            if now - connection.last_heard >= settings.ws_idle_timeout_seconds:
                raise ProtocolError(CLOSE_IDLE, "idle_timeout", "No message from the client.")
            if now >= next_ping:
                await websocket.send_text(PING.text)
                next_ping = now + settings.ws_heartbeat_seconds
            if now >= next_check or connection.recheck_due:
                next_check = await _check_again(services, connection)
    finally:
        if not reader.done():
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader
    if not reader.cancelled() and reader.exception() is not None:
        raise reader.exception()  # type: ignore[misc]
    if connection.failure is not None:
        raise connection.failure


async def _close_with_error(websocket: WebSocket, exc: ProtocolError) -> None:
    if websocket.client_state is not WebSocketState.CONNECTED:
        return
    with contextlib.suppress(Exception):
        frame = {"type": "error", "error": {"code": exc.code, "message": exc.message}}
        await websocket.send_text(json.dumps_str(frame))
        await websocket.close(code=exc.close_code, reason=exc.code)
