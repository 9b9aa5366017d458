"""Virality tracking for labelled content: reach, escalation with friction, corrections.

When content that a decision labelled passes a number of unique views or shares
(configurable), it is escalated to review and forwards of it get friction, once; later a
correction notice can reach everyone who saw or shared it. Only labelled content is tracked,
so the views of everything else cost one primary-key probe.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Protocol

from courtyard.core.clock import Clock
from courtyard.core.db import Conn, Database, Tx
from courtyard.core.errors import NotFound
from courtyard.governance import store
from courtyard.realtime.model import EventDraft
from courtyard.realtime.service import RealtimeService

CORRECTION_EVENT = "governance.correction"
VIRALITY_EVENT_KIND = "content.virality"


class ContentNotTracked(NotFound):
    """No decision labelled this content, so nobody's views or shares were recorded."""

    code = "content_not_tracked"
    default_message = "This content is not tracked, so there is nobody to send a correction to."


@dataclass(frozen=True, slots=True)
class ViralityThresholds:
    """Escalate when unique views or shares reach these numbers."""

    views: int = 5000
    shares: int = 500


@dataclass(frozen=True, slots=True)
class Reach:
    content_type: str
    content_id: str
    views: int
    shares: int
    max_hops: int
    labels: tuple[str, ...]
    friction: bool
    escalated_at: datetime | None
    decision_id: str | None


@dataclass(frozen=True, slots=True)
class Escalation:
    """Returned by the one call that made the content cross a threshold."""

    reach: Reach
    decision_id: str


def _reach(row: dict[str, Any]) -> Reach:
    return Reach(
        content_type=row["content_type"],
        content_id=row["content_id"],
        views=int(row["views"]),
        shares=int(row["shares"]),
        max_hops=int(row["max_hops"]),
        labels=tuple(row["labels"] or ()),
        friction=bool(row["friction"]),
        escalated_at=row["escalated_at"],
        decision_id=row["decision_id"],
    )


class EscalationHook(Protocol):
    async def __call__(
        self, tx: Tx, *, content_type: str, content_id: str, author_id: str | None
    ) -> None: ...


class ViralityService:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        realtime: RealtimeService,
        thresholds: ViralityThresholds = ViralityThresholds(),  # frozen value
    ) -> None:
        self._db = db
        self._clock = clock
        self._realtime = realtime
        self.thresholds = thresholds
        # Set by the container: opens the review item of an escalation (due process).
        self.on_escalate: EscalationHook | None = None

    async def label(
        self,
        tx: Tx,
        content_type: str,
        content_id: str,
        author_id: str | None,
        labels: Sequence[str],
    ) -> None:
        """Start tracking content a decision labelled (or add labels to tracked content)."""
        await store.track_content(tx.conn, content_type, content_id, author_id, list(labels))

    async def record_views(
        self, tx: Tx, content_type: str, content_id: str, viewer_ids: Sequence[str]
    ) -> Escalation | None:
        """Count first views by ``viewer_ids``; an account that viewed before counts no more."""
        if not viewer_ids or not await store.is_tracked(tx.conn, content_type, content_id):
            return None
        viewers = sorted(set(viewer_ids))  # sorted: concurrent upserts lock rows in one order
        now = self._clock.now()
        new = await store.mark_viewed(tx.conn, content_type, content_id, viewers, now)
        if new == 0:
            return None
        row = await store.add_reach(tx.conn, content_type, content_id, views=new)
        return await self._maybe_escalate(tx, row, now)

    async def record_share(
        self, tx: Tx, content_type: str, content_id: str, sharer_id: str, hops: int
    ) -> Escalation | None:
        """Count a share (every forward counts) and remember the sharer for corrections."""
        if not await store.is_tracked(tx.conn, content_type, content_id):
            return None
        now = self._clock.now()
        # Audience row first, then the reach row: the order record_views takes its locks in,
        # so a view and a share by the same account cannot deadlock on PostgreSQL.
        await store.mark_shared(tx.conn, content_type, content_id, sharer_id, now)
        row = await store.add_reach(tx.conn, content_type, content_id, shares=1, hops=hops)
        return await self._maybe_escalate(tx, row, now)

    async def _maybe_escalate(
        self, tx: Tx, row: dict[str, Any] | None, now: datetime
    ) -> Escalation | None:
        if row is None or row["escalated_at"] is not None:
            return None
        views, shares = int(row["views"]), int(row["shares"])
        if views < self.thresholds.views and shares < self.thresholds.shares:
            return None
        content_type, content_id = row["content_type"], row["content_id"]
        # The conditional UPDATE (… WHERE escalated_at IS NULL) decides, so concurrent calls
        # escalate once: on PostgreSQL the loser waits for the winner's row lock and then
        # matches nothing; SQLite has one writer.
        if not await store.claim_escalation(tx.conn, content_type, content_id, now):
            return None
        labels = sorted(row["labels"] or ())
        decision_id = await store.insert_decision(
            tx.conn,
            decided_at=now,
            event_kind=VIRALITY_EVENT_KIND,
            actor_id=row["author_id"],
            subject_type=content_type,
            subject_id=content_id,
            verdict="friction",
            labels=labels,
            hits=[
                {
                    "rule_id": "virality",
                    "policy_clause": "virality",
                    "reason": (
                        "Labelled content reached the virality threshold: escalated to review,"
                        " forwarding gets friction."
                    ),
                    "evidence": {
                        "views": views,
                        "shares": shares,
                        "thresholds": asdict(self.thresholds),
                    },
                }
            ],
        )
        await store.set_reach_decision(tx.conn, content_type, content_id, decision_id)
        if self.on_escalate is not None:
            await self.on_escalate(
                tx, content_type=content_type, content_id=content_id, author_id=row["author_id"]
            )
        reach = _reach({**row, "friction": True, "escalated_at": now, "decision_id": decision_id})
        return Escalation(reach, decision_id)

    async def reach(self, conn: Conn, content_type: str, content_id: str) -> Reach | None:
        row = await store.get_reach(conn, content_type, content_id)
        return _reach(row) if row is not None else None

    async def has_friction(self, conn: Conn, content_type: str, content_id: str) -> bool:
        """Whether forwarding this content should ask the sender to confirm first."""
        row = await store.get_reach(conn, content_type, content_id)
        return bool(row is not None and row["friction"])

    async def send_correction(
        self, content_type: str, content_id: str, text: str, *, by: str | None
    ) -> int:
        """Send a correction to everyone who viewed or shared the content; returns how many.

        One transaction: the notice row, its audit row and the events commit together.
        """
        async with self._db.write() as tx:
            if not await store.is_tracked(tx.conn, content_type, content_id):
                raise ContentNotTracked(
                    details={"content_type": content_type, "content_id": content_id}
                )
            audience = await store.list_audience(tx.conn, content_type, content_id)
            now = self._clock.now()
            notice_id = await store.insert_correction_notice(
                tx.conn,
                content_type=content_type,
                content_id=content_id,
                text=text,
                created_at=now,
                created_by=by,
                recipients=len(audience),
            )
            await store.insert_audit(
                tx.conn,
                at=now,
                actor_id=by,
                tag="governance:correction:send",
                target_type=content_type,
                target_id=content_id,
                after={"notice_id": notice_id, "recipients": len(audience)},
            )
            payload = {
                "content_type": content_type,
                "content_id": content_id,
                "text": text,
                "notice_id": notice_id,
            }
            await self._realtime.append(
                tx,
                [
                    EventDraft(CORRECTION_EVENT, payload, account_id=account_id)
                    for account_id in audience
                ],
            )
        return len(audience)
