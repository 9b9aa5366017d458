"""Appending events to the durable stream, and reading them back for one account.

``append`` is the one way a service emits a realtime event: it writes rows in the caller's
transaction (so a rollback leaves no event) and, once the commit has succeeded, wakes the
tailers: this node's directly, the others through the bus channel ``stream``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

from courtyard.accounts.model import Actor
from courtyard.core import json
from courtyard.core.bus import Bus
from courtyard.core.clock import Clock
from courtyard.core.db import Database, Tx
from courtyard.governance.model import Capability
from courtyard.governance.service import GovernanceService
from courtyard.realtime import store
from courtyard.realtime.model import CursorExpired, EventDraft, StoredEvent

log = logging.getLogger(__name__)

STREAM_CHANNEL = "stream"
EPHEMERAL_CHANNEL = "ephemeral"
PRUNE_BATCH = 1000  # per transaction: a writer waits for one batch at most (6-8 ms, SQLite)

# A handler for a client frame type other than the stream's own (chats registers "send"):
# given the connection's actor, the frame and a reply callback, it returns at once and calls
# the callback exactly once, with the answer frame or None, when it is done (for a send:
# after the commit). No task per frame: a pipelining client sends thousands per second.
FrameHandler = Callable[[Actor, dict[str, Any], Callable[[dict[str, Any] | None], None]], None]


class RealtimeService:
    def __init__(self, db: Database, bus: Bus, clock: Clock, governance: GovernanceService) -> None:
        self._db = db
        self._governance = governance
        self._bus = bus
        self._clock = clock
        # The local tailer's wake-up (set by the container once the tailer exists).
        self.local_wake: Callable[[int], None] | None = None
        # The local tailer's shortcut for events this node just committed (see ``offer``).
        self.local_offer: Callable[[list[StoredEvent]], bool] | None = None
        # Client frame types handled by other pillars, registered by the container.
        self.frame_handlers: dict[str, FrameHandler] = {}
        self._publishing: set[asyncio.Task[None]] = set()
        self._pruning: asyncio.Task[None] | None = None

    async def append(self, tx: Tx, drafts: Sequence[EventDraft]) -> list[int]:
        """Insert ``drafts`` into the stream inside ``tx``; returns their stream ids.

        Call it late in the transaction: from here to the commit, other event-writing
        transactions wait (that wait is what makes stream ids follow commit order).
        """
        if not drafts:
            return []
        last = await store.reserve_stream_ids(tx.conn, len(drafts))
        first = last - len(drafts) + 1
        now = self._clock.now()
        rows = [
            store.event_row(
                first + i,
                account_id=draft.account_id,
                conversation_id=draft.conversation_id,
                kind=draft.kind,
                payload=draft.payload,
                created_at=now,
                audience_changed=draft.audience_changed,
            )
            for i, draft in enumerate(drafts)
        ]
        await store.insert_events(tx.conn, rows)

        async def notify() -> None:
            offered = False
            if self.local_offer is not None:
                offered = self.local_offer([store.stored_event(row) for row in rows])
            if not offered and self.local_wake is not None:
                self.local_wake(last)
            # Other nodes' wake-up goes out in the background: the writer (a send's ack) does
            # not wait on Redis, and a lost wake-up is covered by the tailers' poll.
            task = asyncio.get_running_loop().create_task(self._wake_other_nodes(last))
            self._publishing.add(task)
            task.add_done_callback(self._publishing.discard)

        tx.after_commit(notify)
        return [first + i for i in range(len(drafts))]

    async def _wake_other_nodes(self, last: int) -> None:
        try:
            await self._bus.publish(STREAM_CHANNEL, str(last).encode())
        except Exception as exc:  # the poll delivers anyway, a little later
            log.warning("could not publish a stream wake-up (%s)", type(exc).__name__)

    async def open_audience(
        self, tx: Tx, conversation_id: str, account_ids: Sequence[str], from_stream: int
    ) -> None:
        """From stream id ``from_stream`` on, these accounts see the conversation's events.

        ``from_stream`` is an id this transaction appended (flagged ``audience_changed``), so
        tailers reload the audience before they route it.
        """
        await store.open_audience(tx.conn, conversation_id, list(account_ids), from_stream)

    async def close_audience(
        self, tx: Tx, conversation_id: str, account_ids: Sequence[str], to_stream: int
    ) -> None:
        """After stream id ``to_stream`` (appended by this transaction), they see no more."""
        await store.close_audience(tx.conn, conversation_id, list(account_ids), to_stream)

    async def redact(self, tx: Tx, stream_id: int, payload: dict[str, Any]) -> None:
        """Replace a stored event's data (a recalled message): replay never shows the original.

        Connections that already received it are told by the event that explains the change.
        """
        await store.rewrite_payload(tx.conn, stream_id, payload)

    async def publish_ephemeral(self, conversation_id: str, frame: dict[str, Any]) -> None:
        """A frame for the conversation's online members that is never stored (typing).

        It goes over the bus to every node (this one included) and is lost if nobody is
        listening, which is what "ephemeral" means.
        """
        message = {"conversation_id": conversation_id, "frame": frame}
        await self._bus.publish(EPHEMERAL_CHANNEL, json.dumps(message))

    async def list_events(self, actor: Actor, after: int, limit: int) -> list[StoredEvent]:
        """The HTTP fallback: what the actor may see after ``after`` (needs the read capability)."""
        self._governance.capabilities(actor.standing).require(Capability.READ)
        return await self.events_for(actor.id, after, limit)

    async def events_for(self, account_id: str, after: int, limit: int) -> list[StoredEvent]:
        """The next page after ``after``; ``CursorExpired`` if retention deleted events after
        it (checked after the read, so a pruning that ran before the read is seen)."""
        async with self._db.read() as conn:
            page = await store.events_for_account_after(conn, account_id, after, limit)
            first = await store.first_retained(conn)
            if after + 1 < first:
                position = await store.last_stream_id(conn)
                raise CursorExpired(details={"position": position, "first_retained": first})
        return page

    # -- retention -----------------------------------------------------------------------------

    async def prune(self, retention: timedelta, *, batch: int = PRUNE_BATCH) -> int:
        """Delete the events older than ``retention``, oldest first, ``batch`` per transaction
        (writers wait for one batch at most), then the audience periods only they used;
        returns how many events went. Safe to run on several nodes at once."""
        cutoff = self._clock.now() - retention
        total = 0
        while True:
            async with self._db.write() as tx:
                deleted = await store.prune_events(tx.conn, cutoff, batch)
            if not deleted:
                break
            total += deleted
            await asyncio.sleep(0)  # let the writers in between batches
        if total:
            async with self._db.write() as tx:
                await store.prune_audiences(tx.conn, await store.first_retained(tx.conn) - 1)
        return total

    def start_pruning(self, retention_days: float, every: float) -> None:
        """``prune`` every ``every`` seconds until ``stop_pruning`` (the server's lifespan);
        a retention of 0 days keeps every event."""
        if retention_days <= 0:
            return
        self._pruning = asyncio.get_running_loop().create_task(
            self._keep_pruning(timedelta(days=retention_days), every), name="event-retention"
        )

    async def stop_pruning(self) -> None:
        task, self._pruning = self._pruning, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _keep_pruning(self, retention: timedelta, every: float) -> None:
        while True:
            await asyncio.sleep(every)
            try:
                pruned = await self.prune(retention)
            except Exception:  # the next round retries; serving goes on
                log.warning("pruning old events failed", exc_info=True)
                continue
            if pruned:
                log.info("pruned %d events older than %s", pruned, retention)
