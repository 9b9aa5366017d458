"""One tailer per node: reads the stream once and fans each event out to local sockets.

After a commit the writing node wakes its tailer directly and publishes the new position on
the bus channel ``stream`` so every other node's tailer wakes too; a poll every
``stream_poll_seconds`` covers a lost wake-up. Each wake-up costs one query per node (not per
connection): ``stream_id > last ORDER BY stream_id``. Because stream ids follow commit order,
once id N is visible every id below it is too, so advancing ``position`` never skips an event.
Each event is serialised to its frame once, then handed to the connections that may see it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Iterable
from typing import Protocol

from courtyard.core.bus import Bus
from courtyard.core.db import Database
from courtyard.realtime import store
from courtyard.realtime.model import StoredEvent, event_frame
from courtyard.realtime.service import STREAM_CHANNEL

log = logging.getLogger(__name__)

BATCH = 1000


class Listener(Protocol):
    """A local connection, as the tailer sees it: who it is and a non-blocking hand-off."""

    @property
    def account_id(self) -> str: ...

    def deliver(self, stream_id: int, frame: str) -> None: ...


class StreamTailer:
    def __init__(self, db: Database, bus: Bus, *, poll_seconds: float = 1.0) -> None:
        self._db = db
        self._bus = bus
        self._poll_seconds = poll_seconds
        self.position = 0
        self._wake = asyncio.Event()
        self._by_account: dict[str, set[Listener]] = defaultdict(set)
        # Later: self._by_conversation, filled from memberships, consulted in _recipients.
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        async with self._db.read() as conn:
            self.position = await store.last_stream_id(conn)
        self._tasks = [
            asyncio.create_task(self._run(), name="stream-tailer"),
            asyncio.create_task(self._listen(), name="stream-tailer-bus"),
        ]

    async def stop(self) -> None:
        self._stopping = True
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            # A client library may turn a cancellation into its own error; never wait forever.
            await asyncio.wait(self._tasks, timeout=5)
        self._tasks = []

    def wake(self, position: int = 0) -> None:
        """Read the stream soon, unless ``position`` has been read already (0: always)."""
        if position <= 0 or position > self.position:
            self._wake.set()

    # -- connections -------------------------------------------------------------------------

    def attach(self, listener: Listener) -> int:
        """Start delivering to ``listener``; every event after the returned position reaches it."""
        self._by_account[listener.account_id].add(listener)
        return self.position

    def detach(self, listener: Listener) -> None:
        listeners = self._by_account.get(listener.account_id)
        if listeners is not None:
            listeners.discard(listener)
            if not listeners:
                del self._by_account[listener.account_id]

    def connection_count(self) -> int:
        return sum(len(v) for v in self._by_account.values())

    async def _listen(self) -> None:
        """Wake on other nodes' commits; if the bus is away, retry (the poll covers meanwhile)."""
        delay = self._poll_seconds
        while not self._stopping:
            try:
                subscription = await self._bus.subscribe(STREAM_CHANNEL)
                try:
                    delay = self._poll_seconds
                    async for message in subscription:
                        try:
                            position = int(message)
                        except ValueError:
                            position = 0
                        # The writer's own node was woken directly: a repeat costs nothing.
                        self.wake(position)
                finally:
                    with contextlib.suppress(Exception):
                        await subscription.close()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self._stopping:
                    return
                log.warning("stream wake-ups unavailable (%s); polling", type(exc).__name__)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)

    # -- the loop ----------------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._poll_seconds)
            self._wake.clear()
            try:
                await self.catch_up()
            except asyncio.CancelledError:
                raise
            except Exception:  # the database may be away for a moment; the next poll retries
                log.exception("stream tailer could not read the stream")

    async def catch_up(self) -> None:
        """Read and dispatch everything committed after ``position``."""
        while True:
            async with self._db.read() as conn:
                batch = await store.events_after(conn, self.position, BATCH)
            if not batch:
                return
            self._dispatch(batch)  # no await: attach/detach never interleave with a batch
            if len(batch) < BATCH:
                return

    def _dispatch(self, batch: Iterable[StoredEvent]) -> None:
        for event in batch:
            recipients = self._recipients(event)
            if recipients:
                frame = event_frame(event)
                for listener in recipients:
                    listener.deliver(event.id, frame)
            self.position = event.id

    def _recipients(self, event: StoredEvent) -> list[Listener]:
        if event.account_id is not None:
            return list(self._by_account.get(event.account_id, ()))
        return []
