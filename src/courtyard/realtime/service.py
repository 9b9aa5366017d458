"""Appending events to the durable stream, and reading them back for one account.

``append`` is the one way a service emits a realtime event: it writes rows in the caller's
transaction (so a rollback leaves no event) and, once the commit has succeeded, wakes the
tailers: this node's directly, the others through the bus channel ``stream``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Any

from courtyard.accounts.model import Actor
from courtyard.core import json
from courtyard.core.bus import Bus
from courtyard.core.clock import Clock
from courtyard.core.db import Database, Tx
from courtyard.governance.model import Capability
from courtyard.governance.service import GovernanceService
from courtyard.realtime import store
from courtyard.realtime.model import EventDraft, StoredEvent

log = logging.getLogger(__name__)

STREAM_CHANNEL = "stream"
EPHEMERAL_CHANNEL = "ephemeral"

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
        async with self._db.read() as conn:
            return await store.events_for_account_after(conn, account_id, after, limit)
