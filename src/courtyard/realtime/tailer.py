"""One tailer per node: reads the stream once and fans each event out to local sockets.

After a commit the writing node wakes its tailer directly and publishes the new position on
the bus channel ``stream`` so every other node's tailer wakes too; a poll every
``stream_poll_seconds`` covers a lost wake-up. Each wake-up costs one query per node (not per
connection): ``stream_id > last ORDER BY stream_id``. Because stream ids follow commit order,
once id N is visible every id below it is too, so advancing ``position`` never skips an event.
Each event is serialised to its frame once, then handed to the connections that may see it.

An account whose session was revoked or whose capabilities changed is announced on the bus
channel ``courtyard:access`` (``GovernanceService.access_changed``); the tailer has that
account's sockets here check again at once, so they close now rather than at their periodic
check.

Routing: an event with an ``account_id`` goes to that account's connections; an event with a
``conversation_id`` goes to the accounts in the conversation's audience *at that event's
stream id* (``stream_audiences`` periods). The tailer caches each conversation's periods and
reloads them when it reads a batch holding an event flagged ``audience_changed`` for that
conversation: the reload happens after the batch was read, so it sees every change up to the
batch's last event, and filtering periods by the event's id routes each event by the
membership it was written under (a member removed at id 105 still gets id 100 live, and one
added at 105 never gets id 100).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict, defaultdict
from collections.abc import Iterable
from typing import Any, Protocol

from courtyard.core import json
from courtyard.core.bus import Bus
from courtyard.core.db import Conn, Database
from courtyard.governance.service import ACCESS_CHANNEL
from courtyard.realtime import store
from courtyard.realtime.model import StoredEvent, WireFrame, event_frame
from courtyard.realtime.service import EPHEMERAL_CHANNEL, STREAM_CHANNEL

log = logging.getLogger(__name__)

BATCH = 1000
AUDIENCE_CACHE = 20_000  # conversations whose periods are kept (least recently used go)
IN_LIST = 500  # conversation ids per audience query

Period = tuple[str, int, int | None]  # (account, from stream id, to stream id or open)


class Listener(Protocol):
    """A local connection, as the tailer sees it: who it is and a non-blocking hand-off."""

    @property
    def account_id(self) -> str: ...

    def deliver(self, stream_id: int, frame: WireFrame) -> None: ...

    def deliver_ephemeral(self, frame: WireFrame) -> None: ...

    def recheck(self) -> None:
        """Check the session and the account's capabilities again now (they changed)."""


class StreamTailer:
    def __init__(self, db: Database, bus: Bus, *, poll_seconds: float = 1.0) -> None:
        self._db = db
        self._bus = bus
        self._poll_seconds = poll_seconds
        self.position = 0
        self._wake = asyncio.Event()
        self._by_account: dict[str, set[Listener]] = defaultdict(set)
        self._audiences: OrderedDict[str, list[Period]] = OrderedDict()
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        async with self._db.read() as conn:
            self.position = await store.last_stream_id(conn)
        self._tasks = [
            asyncio.create_task(self._run(), name="stream-tailer"),
            asyncio.create_task(self._listen(), name="stream-tailer-bus"),
            asyncio.create_task(self._listen_ephemeral(), name="stream-tailer-ephemeral"),
            asyncio.create_task(self._listen_access(), name="stream-tailer-access"),
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
        await self._subscribe(STREAM_CHANNEL, self._on_wake)

    async def _on_wake(self, message: bytes) -> None:
        try:
            position = int(message)
        except ValueError:
            position = 0
        # The writer's own node was woken directly: a repeat costs nothing.
        self.wake(position)

    async def _listen_ephemeral(self) -> None:
        await self._subscribe(EPHEMERAL_CHANNEL, self._on_ephemeral)

    async def _on_ephemeral(self, message: bytes) -> None:
        """Hand a never-stored frame (typing) to the conversation's members online here."""
        try:
            decoded = json.loads(message)
            conversation_id = str(decoded["conversation_id"])
            frame: dict[str, Any] = decoded["frame"]
        except (ValueError, KeyError, TypeError):
            log.warning("ignoring a malformed ephemeral message")
            return
        if conversation_id not in self._audiences:
            async with self._db.read() as conn:
                await self._load_audiences(conn, {conversation_id}, self.position)
        text = WireFrame(json.dumps_str(frame))
        for account_id, _start, end in self._audiences.get(conversation_id, ()):
            if end is None:
                for listener in self._by_account.get(account_id, ()):
                    listener.deliver_ephemeral(text)

    async def _listen_access(self) -> None:
        await self._subscribe(ACCESS_CHANNEL, self._on_access)

    async def _on_access(self, message: bytes) -> None:
        """An account's sessions or standing changed: its sockets here check again now."""
        for listener in list(self._by_account.get(message.decode(errors="replace"), ())):
            listener.recheck()

    async def _subscribe(self, channel: str, handle: Any) -> None:
        delay = self._poll_seconds
        while not self._stopping:
            try:
                subscription = await self._bus.subscribe(channel)
                try:
                    delay = self._poll_seconds
                    async for message in subscription:
                        await handle(message)
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
                stale = {
                    e.conversation_id
                    for e in batch
                    if e.conversation_id is not None
                    and (e.audience_changed or e.conversation_id not in self._audiences)
                }
                if stale:
                    await self._load_audiences(conn, stale, batch[0].id)
            self._dispatch(batch)  # no await: attach/detach never interleave with a batch
            if len(batch) < BATCH:
                return

    def offer(self, batch: list[StoredEvent]) -> bool:
        """Dispatch events this node has just committed without reading them back.

        Accepted only when they follow on exactly from ``position`` (no other commit came in
        between) and every conversation they touch has its audience cached and unchanged;
        otherwise the caller wakes the tailer, which reads the stream as usual.
        """
        if not batch or batch[0].id != self.position + 1:
            return False
        for event in batch:
            if event.conversation_id is not None and (
                event.audience_changed or event.conversation_id not in self._audiences
            ):
                return False
        self._dispatch(batch)
        return True

    def _dispatch(self, batch: Iterable[StoredEvent]) -> None:
        for event in batch:
            if event.id <= self.position:  # already dispatched (an offer overtook a read)
                continue
            recipients = self._recipients(event)
            if recipients:
                frame = WireFrame(event_frame(event))
                for listener in recipients:
                    listener.deliver(event.id, frame)
            self.position = event.id

    async def _load_audiences(self, conn: Conn, conversation_ids: set[str], from_id: int) -> None:
        ordered = sorted(conversation_ids)
        for start in range(0, len(ordered), IN_LIST):
            chunk = ordered[start : start + IN_LIST]
            loaded = await store.audience_periods(conn, chunk, from_id)
            for conversation_id, periods in loaded.items():
                self._audiences[conversation_id] = periods
                self._audiences.move_to_end(conversation_id)
        while len(self._audiences) > AUDIENCE_CACHE:
            self._audiences.popitem(last=False)

    def _recipients(self, event: StoredEvent) -> list[Listener]:
        if event.account_id is not None:
            return list(self._by_account.get(event.account_id, ()))
        if event.conversation_id is None:
            return []
        periods = self._audiences.get(event.conversation_id)
        if periods is None:  # pragma: no cover - loaded before every dispatch
            log.error("no audience loaded for conversation %s", event.conversation_id)
            return []
        self._audiences.move_to_end(event.conversation_id)
        recipients: list[Listener] = []
        by_account = self._by_account
        stream_id = event.id
        for account_id, start, end in periods:
            if start <= stream_id and (end is None or stream_id <= end):
                listeners = by_account.get(account_id)
                if listeners:
                    recipients.extend(listeners)
        return recipients
