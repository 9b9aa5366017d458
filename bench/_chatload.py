"""Load-generator processes for bench/chat.py, driven over a pipe by the parent.

One process can only use one core, and the server shares this machine's two: so the sockets
are spread over several worker processes, each an event loop holding its share of
``StreamSocket``s. The parent sends commands (connect, run a phase, close) and gets plain
dicts back; every command is bounded in time, and a worker exits when the parent says so or
its pipe closes.

Latencies cross processes (a sender in one, its receiver in another), so a message carries
its intended send time (``time.time()``) in its text: ``"<phase tag> <send time> <padding>"``.
In open-loop phases that time is the schedule's, not the moment the loop got round to it, so a
stalled generator shows up as latency instead of hiding it.
"""

from __future__ import annotations

import asyncio
import contextlib
import resource
import time
import traceback
from collections import Counter
from dataclasses import dataclass, field
from functools import partial
from multiprocessing.connection import Connection
from typing import Any

import orjson

from _ws import Frame, StreamSocket, open_stream


@dataclass(frozen=True)
class SocketSpec:
    """One socket a worker opens: where, as whom, and what it does in a chat phase."""

    host: str
    port: int
    token: str
    account_id: str
    role: str = "idle"  # "idle", "sender" (sends into conversation_id) or "receiver"
    conversation_id: str = ""


def raise_fd_limit() -> int:
    """Soft RLIMIT_NOFILE up to the hard limit; child processes inherit it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@dataclass
class _Sender:
    sock: StreamSocket
    conversation_id: str
    prefix: str
    outstanding: dict[str, float] = field(default_factory=dict)
    count: int = 0


@dataclass
class _Phase:
    """What one worker saw in one phase; ``result`` is what goes back to the parent."""

    tag: str
    start_at: float
    end_at: float
    closed_loop: bool
    pad: str
    sent: int = 0
    skipped: int = 0
    acked: int = 0
    acked_in_window: int = 0
    deliveries: int = 0
    deliveries_in_window: int = 0
    echoes: int = 0
    outstanding: int = 0
    ack_latency: list[float] = field(default_factory=list)
    delivery_latency: list[float] = field(default_factory=list)
    ack_buckets: Counter[int] = field(default_factory=Counter)
    delivery_buckets: Counter[int] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    last_delivery: float = 0.0

    def send(self, sender: _Sender, intended: float) -> None:
        sender.count += 1
        client_id = f"{sender.prefix}.{sender.count}"
        frame = {
            "type": "send",
            "client_id": client_id,
            "conversation_id": sender.conversation_id,
            "text": f"{self.tag} {intended:.6f} {self.pad}",
        }
        sender.outstanding[client_id] = intended
        self.outstanding += 1
        self.sent += 1
        sender.sock.send_raw(orjson.dumps(frame))

    def answered(self, sender: _Sender, frame: Frame, *, ok: bool) -> None:
        arrival = time.time()
        intended = sender.outstanding.pop(frame.get("client_id", ""), None)
        if intended is None:
            return
        self.outstanding -= 1
        if ok:
            self.acked += 1
            self.ack_latency.append(arrival - intended)
            if self.start_at <= arrival < self.end_at:
                self.acked_in_window += 1
                self.ack_buckets[int(arrival - self.start_at)] += 1
        else:
            self.errors[str(frame.get("error", {}).get("code"))] += 1
        if self.closed_loop and arrival < self.end_at and sender.sock.is_open:
            self.send(sender, arrival)

    def event(self, sock: StreamSocket, frame: Frame) -> None:
        if frame.get("kind") != "chat.message":
            return
        data = frame["data"]
        parts = str(data.get("text", "")).split(" ", 2)
        if parts[0] != self.tag:
            return  # a late frame of an earlier phase
        if data.get("sender_id") == sock.account_id:
            self.echoes += 1  # the sender's own copy: its ack already measured it
            return
        arrival = time.time()
        self.last_delivery = arrival
        self.deliveries += 1
        self.delivery_latency.append(arrival - float(parts[1]))
        if self.start_at <= arrival < self.end_at:
            self.deliveries_in_window += 1
            self.delivery_buckets[int(arrival - self.start_at)] += 1

    def result(self) -> dict[str, Any]:
        return {
            "sent": self.sent,
            "skipped": self.skipped,
            "acked": self.acked,
            "acked_in_window": self.acked_in_window,
            "deliveries": self.deliveries,
            "deliveries_in_window": self.deliveries_in_window,
            "echoes": self.echoes,
            "unanswered": self.outstanding,
            "ack_latency": self.ack_latency,
            "delivery_latency": self.delivery_latency,
            "ack_buckets": dict(self.ack_buckets),
            "delivery_buckets": dict(self.delivery_buckets),
            "errors": dict(self.errors),
        }


class Worker:
    """One generator process: its sockets and the commands the parent sends."""

    def __init__(self, index: int, pipe: Connection) -> None:
        self.index = index
        self.pipe = pipe
        self.specs: list[SocketSpec] = []
        self.sockets: list[StreamSocket] = []

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                command = await loop.run_in_executor(None, self.pipe.recv)
            except EOFError:
                command = {"op": "exit"}
            if command["op"] == "exit":
                await self.op_close()
                return
            cpu_before = cpu_seconds()
            try:
                result = await getattr(self, f"op_{command['op']}")(**command.get("args", {}))
                result["cpu_seconds"] = cpu_seconds() - cpu_before
            except Exception:
                result = {"failure": traceback.format_exc()}
            self.pipe.send(result)

    async def op_connect(self, specs: list[SocketSpec], concurrency: int) -> dict[str, Any]:
        """Open, authenticate and register every socket, ``concurrency`` at a time."""
        gate = asyncio.Semaphore(concurrency)
        latencies: list[float] = []
        failures: Counter[str] = Counter()

        async def one(spec: SocketSpec) -> StreamSocket | None:
            async with gate:
                started = time.perf_counter()
                try:
                    sock = await open_stream(spec.host, spec.port, spec.token)
                except (OSError, TimeoutError) as exc:
                    failures[f"{type(exc).__name__}: {exc}"[:120]] += 1
                    return None
                latencies.append(time.perf_counter() - started)
                sock.account_id = spec.account_id
                return sock

        started = time.perf_counter()
        opened = await asyncio.gather(*(one(spec) for spec in specs))
        elapsed = time.perf_counter() - started
        for spec, sock in zip(specs, opened, strict=True):
            if sock is not None:
                self.specs.append(spec)
                self.sockets.append(sock)
        return {
            "connected": sum(1 for s in opened if s is not None),
            "seconds": elapsed,
            "latency": latencies,
            "failures": dict(failures),
        }

    async def op_status(self) -> dict[str, Any]:
        codes = Counter(str(s.close_code) for s in self.sockets if not s.is_open)
        return {"open": sum(1 for s in self.sockets if s.is_open), "closed": dict(codes)}

    async def op_close(self) -> dict[str, Any]:
        gate = asyncio.Semaphore(200)

        async def one(sock: StreamSocket) -> None:
            async with gate:
                await sock.close(grace=5)

        count = len(self.sockets)
        await asyncio.gather(*(one(s) for s in self.sockets))
        self.specs, self.sockets = [], []
        return {"closed": count}

    async def op_chat(
        self,
        *,
        tag: str,
        closed_loop: bool,
        rate: float,
        window: int,
        start_at: float,
        end_at: float,
        drain_seconds: float,
        pad: int,
        max_outstanding: int,
    ) -> dict[str, Any]:
        """Send for [start_at, end_at), then wait for the answers and the deliveries.

        Closed loop: each sender keeps ``window`` sends unanswered (the next goes out when an
        answer comes), which finds the sustainable maximum. Open loop: this worker's senders
        send ``rate`` messages/s between them on a fixed schedule, whatever the answers do,
        up to ``max_outstanding`` unanswered (beyond that a send is skipped and counted).
        """
        phase = _Phase(tag, start_at, end_at, closed_loop, "x" * pad)
        senders = [
            _Sender(sock, spec.conversation_id, f"{tag}.{self.index}.{n}")
            for n, (spec, sock) in enumerate(zip(self.specs, self.sockets, strict=True))
            if spec.role == "sender"
        ]
        for sock in self.sockets:
            sock.on_event = partial(phase.event, sock)
        for sender in senders:
            sender.sock.on_ack = partial(phase.answered, sender, ok=True)
            sender.sock.on_send_error = partial(phase.answered, sender, ok=False)
        try:
            await asyncio.sleep(max(0.0, start_at - time.time()))
            if senders and closed_loop:
                for sender in senders:
                    for _ in range(window):
                        phase.send(sender, time.time())
                await asyncio.sleep(max(0.0, end_at - time.time()))
            elif senders and rate > 0:
                await self._open_loop(phase, senders, rate, max_outstanding)
            else:
                await asyncio.sleep(max(0.0, end_at - time.time()))
            deadline = time.time() + drain_seconds
            while phase.outstanding > 0 and time.time() < deadline:  # noqa: ASYNC110 - callbacks count
                await asyncio.sleep(0.05)
            # Deliveries may come from other processes' senders: wait for a quiet half second.
            while time.time() < deadline and time.time() - max(phase.last_delivery, end_at) < 0.5:  # noqa: ASYNC110
                await asyncio.sleep(0.1)
        finally:
            for sock in self.sockets:
                sock.on_event = _ignore_frame
                sock.on_ack = _ignore_frame
                sock.on_send_error = _ignore_frame
        result = phase.result()
        result["sockets_closed"] = sum(1 for s in self.sockets if not s.is_open)
        return result

    @staticmethod
    async def _open_loop(
        phase: _Phase, senders: list[_Sender], rate: float, max_outstanding: int
    ) -> None:
        due = 0
        while True:
            now = time.time()
            if now >= phase.end_at:
                return
            target = int((now - phase.start_at) * rate)
            while due < target:
                intended = phase.start_at + due / rate
                sender = senders[due % len(senders)]
                if phase.outstanding >= max_outstanding or not sender.sock.is_open:
                    phase.skipped += 1
                else:
                    phase.send(sender, intended)
                due += 1
            await asyncio.sleep(0.002)


def _ignore_frame(frame: Frame) -> None:
    pass


def worker_main(index: int, pipe: Connection) -> None:
    """Entry point of a generator process (multiprocessing, spawn)."""
    raise_fd_limit()
    try:
        import uvloop

        runner: Any = uvloop.run
    except ImportError:  # pragma: no cover - uvloop ships with uvicorn[standard]
        runner = asyncio.run
    with contextlib.suppress(KeyboardInterrupt):
        runner(Worker(index, pipe).run())
