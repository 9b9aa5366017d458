"""A lean client for ``/api/v1/stream`` on a raw asyncio transport, for load generation.

The `websockets` client (courtyard.client.StreamClient) costs a task switch and several
layers per frame; the load generator shares the 2-core machine with the server, so each
frame it handles is CPU the server does not get. This client parses frames straight out of
``data_received`` and hands each decoded JSON frame to callbacks, so a process can hold
thousands of sockets and tens of thousands of frames per second.

Simplifications that are only acceptable on loopback against our own server: no TLS, no
extensions, and an all-zero masking key (the frame is masked as RFC 6455 requires, but the
key makes masking a no-op; unpredictable keys only protect intermediaries, there are none).
"""

from __future__ import annotations

import asyncio
import base64
import os
import time
from collections.abc import Callable
from typing import Any, cast

import orjson

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
_ZERO_MASK = b"\x00\x00\x00\x00"
_PONG = orjson.dumps({"type": "pong"})

Frame = dict[str, Any]


def _header(opcode: int, length: int) -> bytes:
    first = 0x80 | opcode
    if length < 126:
        return bytes((first, 0x80 | length)) + _ZERO_MASK
    if length < 65536:
        return bytes((first, 0x80 | 126)) + length.to_bytes(2, "big") + _ZERO_MASK
    return bytes((first, 0x80 | 127)) + length.to_bytes(8, "big") + _ZERO_MASK


def _ignore(frame: Frame) -> None:
    pass


class StreamSocket(asyncio.Protocol):
    """One connection: handshake, then callbacks per frame type.

    ``cursor`` follows the last event id seen, like a real client's. ``on_event``,
    ``on_ack`` and ``on_send_error`` are replaced by the workload; application pings are
    answered here, so an idle socket stays alive without any task of its own.
    """

    def __init__(self, host: str, port: int, path: str) -> None:
        loop = asyncio.get_running_loop()
        self._request = (
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
        self._buffer = bytearray()
        self._fragments: list[bytes] | None = None
        self._fragment_op = OP_TEXT
        self._upgraded = False
        self.transport: asyncio.Transport | None = None
        self.opened: asyncio.Future[None] = loop.create_future()
        self.registered: asyncio.Future[int] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()
        self.close_code: int | None = None
        self.error: Frame | None = None
        self.cursor: int | None = None
        self.account_id = ""
        self.on_event: Callable[[Frame], None] = _ignore
        self.on_ack: Callable[[Frame], None] = _ignore
        self.on_send_error: Callable[[Frame], None] = _ignore

    # -- asyncio.Protocol --------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.transport.write(self._request)

    def connection_lost(self, exc: Exception | None) -> None:
        for future in (self.opened, self.registered):
            if not future.done():
                future.set_exception(ConnectionError(f"closed ({self.close_code}): {self.error}"))
        if not self.closed.done():
            self.closed.set_result(None)

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        if not self._upgraded:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            status = bytes(buffer[: buffer.find(b"\r\n")])
            del buffer[: end + 4]
            if b" 101 " not in status:
                self.opened.set_exception(ConnectionError(status.decode(errors="replace")))
                self._abort()
                return
            self._upgraded = True
            self.opened.set_result(None)
        self._parse()

    # -- frames ------------------------------------------------------------------------------

    def _parse(self) -> None:
        buffer = self._buffer
        size = len(buffer)
        pos = 0
        while size - pos >= 2:
            first, second = buffer[pos], buffer[pos + 1]
            length = second & 0x7F
            start = pos + 2
            if length == 126:
                if size - pos < 4:
                    break
                length = int.from_bytes(buffer[pos + 2 : pos + 4], "big")
                start = pos + 4
            elif length == 127:
                if size - pos < 10:
                    break
                length = int.from_bytes(buffer[pos + 2 : pos + 10], "big")
                start = pos + 10
            end = start + length
            if end > size:
                break
            payload = bytes(buffer[start:end])
            pos = end
            self._frame(first & 0x80, first & 0x0F, payload)
        if pos:
            del buffer[:pos]

    def _frame(self, fin: int, opcode: int, payload: bytes) -> None:
        if opcode == OP_CONT:
            if self._fragments is None:
                return
            self._fragments.append(payload)
            if not fin:
                return
            payload, opcode, self._fragments = b"".join(self._fragments), self._fragment_op, None
        elif opcode in {OP_TEXT, OP_BINARY} and not fin:
            self._fragments, self._fragment_op = [payload], opcode
            return
        if opcode in {OP_TEXT, OP_BINARY}:
            self._message(orjson.loads(payload))
        elif opcode == OP_PING:
            self._write(OP_PONG, payload)
        elif opcode == OP_CLOSE:
            if len(payload) >= 2:
                self.close_code = int.from_bytes(payload[:2], "big")
            self._write(OP_CLOSE, payload[:2])
            self._abort()

    def _message(self, frame: Frame) -> None:
        kind = frame.get("type")
        if kind == "event":
            self.cursor = frame["id"]
            self.on_event(frame)
        elif kind == "ack":
            self.on_ack(frame)
        elif kind == "send_error":
            self.on_send_error(frame)
        elif kind == "ping":
            self._write(OP_TEXT, _PONG)
        elif kind == "registered":
            self.cursor = frame["cursor"]
            if not self.registered.done():
                self.registered.set_result(frame["cursor"])
        elif kind == "error":
            self.error = frame

    def _write(self, opcode: int, payload: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(_header(opcode, len(payload)) + payload)

    def _abort(self) -> None:
        if self.transport is not None:
            self.transport.close()

    # -- API ---------------------------------------------------------------------------------

    def send(self, frame: Frame) -> None:
        self._write(OP_TEXT, orjson.dumps(frame))

    def send_raw(self, payload: bytes) -> None:
        self._write(OP_TEXT, payload)

    @property
    def is_open(self) -> bool:
        return not self.closed.done()

    async def close(self, grace: float = 5.0) -> None:
        """Close handshake: our close frame, the server's answer, then the server's FIN."""
        if self.closed.done():
            return
        self._write(OP_CLOSE, (1000).to_bytes(2, "big"))
        try:
            await asyncio.wait_for(asyncio.shield(self.closed), grace)
        except TimeoutError:
            self._abort()


async def open_stream(
    host: str,
    port: int,
    token: str,
    cursor: int | None = None,
    *,
    on_event: Callable[[Frame], None] | None = None,
    within: float = 30.0,
) -> StreamSocket:
    """Connect, authenticate with ``token`` and register at ``cursor``; raises on failure.

    ``on_event`` is installed before registering, so it sees the replayed events too.
    """
    loop = asyncio.get_running_loop()
    _, sock = await asyncio.wait_for(
        loop.create_connection(lambda: StreamSocket(host, port, "/api/v1/stream"), host, port),
        within,
    )
    try:
        await asyncio.wait_for(sock.opened, within)
        if on_event is not None:
            sock.on_event = on_event
        sock.send({"type": "auth", "token": token})
        sock.send({"type": "register", "cursor": cursor})
        await asyncio.wait_for(sock.registered, within)
    except BaseException:
        sock._abort()
        raise
    return sock


def now() -> float:
    """Wall-clock seconds: latencies cross processes on one machine, so all use this clock."""
    return time.time()
