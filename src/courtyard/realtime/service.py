"""Appending events to the durable stream, and reading them back for one account.

``append`` is the one way a service emits a realtime event: it writes rows in the caller's
transaction (so a rollback leaves no event) and, once the commit has succeeded, wakes the
tailers: this node's directly, the others through the bus channel ``stream``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from courtyard.accounts.model import Actor
from courtyard.core.bus import Bus
from courtyard.core.clock import Clock
from courtyard.core.db import Database, Tx
from courtyard.governance.model import Capability
from courtyard.governance.service import GovernanceService
from courtyard.realtime import store
from courtyard.realtime.model import EventDraft, StoredEvent

log = logging.getLogger(__name__)

STREAM_CHANNEL = "stream"


class RealtimeService:
    def __init__(self, db: Database, bus: Bus, clock: Clock, governance: GovernanceService) -> None:
        self._db = db
        self._governance = governance
        self._bus = bus
        self._clock = clock
        # The local tailer's wake-up (set by the container once the tailer exists).
        self.local_wake: Callable[[int], None] | None = None

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
            )
            for i, draft in enumerate(drafts)
        ]
        await store.insert_events(tx.conn, rows)

        async def notify() -> None:
            if self.local_wake is not None:
                self.local_wake(last)
            await self._bus.publish(STREAM_CHANNEL, str(last).encode())

        tx.after_commit(notify)
        return [first + i for i in range(len(drafts))]

    async def list_events(self, actor: Actor, after: int, limit: int) -> list[StoredEvent]:
        """The HTTP fallback: what the actor may see after ``after`` (needs the read capability)."""
        self._governance.capabilities(actor.standing).require(Capability.READ)
        return await self.events_for(actor.id, after, limit)

    async def events_for(self, account_id: str, after: int, limit: int) -> list[StoredEvent]:
        async with self._db.read() as conn:
            return await store.events_for_account_after(conn, account_id, after, limit)
