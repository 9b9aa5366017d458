"""Due process: statements of reasons, the enforcement ladder, reports, the review queue and
appeals.

Every restriction goes through ``_issue``: one statement of reasons, its audit row and a
realtime notice to the person affected, in the transaction of the restriction itself, so no
measure exists without its explanation. Account measures become *bounds* on the account row
(``accounts.enforcement``), from which every capability check computes what the account may do
at that moment; a reversal lifts the bound, voids the strike and restores the content, all in
one transaction.

Pillars plug in their content through ``ContentHandler`` (chats registers messages): how to
find it for a reporter, show it in context to a reviewer, take it down and deliver it again.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from courtyard.accounts import store as accounts_store
from courtyard.accounts.access import access_operator
from courtyard.accounts.model import Actor, OperatorRole
from courtyard.core.clock import Clock
from courtyard.core.config import Settings
from courtyard.core.db import Conn, Database, Tx
from courtyard.core.errors import Conflict, CourtyardError, InvalidInput, NotFound
from courtyard.core.ids import is_valid_id, new_id
from courtyard.governance import due_process_store as store
from courtyard.governance.ladder import (
    ACCOUNT_MEASURES,
    DEFAULT_FEATURE_LIMIT,
    Bound,
    Ladder,
    Measure,
    active_strikes,
    bound_for,
    headline,
)
from courtyard.governance.model import AccountState, Capability, Decision, Standing, Verdict
from courtyard.governance.reasons import (
    REPORT_CATEGORIES,
    Automation,
    Source,
    StatementDraft,
    category_for,
    excerpt_of,
    from_decision,
    visible_explanation,
    what_it_means,
)
from courtyard.governance.service import GovernanceService
from courtyard.realtime.model import EventDraft
from courtyard.realtime.service import RealtimeService

log = logging.getLogger(__name__)

NOTICE_EVENT = "governance.notice"
REPORT_OUTCOME_EVENT = "governance.report_outcome"
RULE_FLAG_EVENT = "governance.rule_flagged"

REVIEWERS = (OperatorRole.ADMIN, OperatorRole.REVIEWER)

# Priorities in the queue: higher first, then the earliest SLA deadline.
PRIORITY = {"appeal": 30, "hold": 40, "virality": 35, "report": 20, "escalation": 25}

REPORT_TARGETS = frozenset({"message", "post", "comment", "account", "group", "article"})

# What a reviewer may decide on each kind of item.
OUTCOMES: dict[str, frozenset[str]] = {
    "hold": frozenset({"approve", "reject"}),
    "report": frozenset(
        {
            "no_violation",
            "remove",
            "warning",
            "feature_limit",
            "limited",
            "suspended",
            "terminated",
            "group_read_only",
        }
    ),
    "escalation": frozenset(
        {"no_violation", "warning", "feature_limit", "limited", "suspended", "terminated"}
    ),
    "virality": frozenset({"keep", "reduce_reach", "remove"}),
    "appeal": frozenset({"uphold", "reverse"}),
}


def outcomes_for(item: dict[str, Any]) -> frozenset[str]:
    """What a reviewer may decide on this item: content is removed, a group made read-only,
    never the other way round."""
    allowed = OUTCOMES[item["kind"]]
    if item["target_type"] in {"account", "group"}:
        allowed = allowed - {"remove"}
    if item["target_type"] != "group":
        allowed = allowed - {"group_read_only"}
    return allowed


class ReviewerConflict(CourtyardError):
    code = "reviewer_conflict"
    http_status = 403
    default_message = "You may not review this item: you are involved in it."


class AppealClosed(Conflict):
    code = "appeal_closed"
    default_message = "This notice can no longer be appealed."


def notice_not_found() -> NotFound:
    return NotFound("No such notice.", code="notice_not_found")


def item_not_found() -> NotFound:
    return NotFound("No such review item.", code="review_item_not_found")


@dataclass(frozen=True, slots=True)
class Withheld:
    """Content a rule held or blocked before it was published, as its pillar hands it over:
    ``body`` is what the pillar needs to publish it later."""

    content_type: str
    content_id: str
    author_id: str
    conversation_id: str | None
    client_id: str | None
    text: str
    body: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ContentRef:
    """Published or withheld content, as due process needs to see it."""

    content_type: str
    content_id: str
    author_id: str
    conversation_id: str | None
    text: str


class ContentHandler(Protocol):
    """What a pillar provides so its content can be reported, reviewed, removed and restored."""

    async def find(self, conn: Conn, viewer_id: str, content_id: str) -> ContentRef | None:
        """The content if ``viewer_id`` may see it now (None otherwise, existence must not
        leak)."""
        ...

    async def context(
        self, conn: Conn, viewer_id: str, content_id: str, around: int
    ) -> list[dict[str, Any]]:
        """What surrounds the content, as ``viewer_id`` could see it."""
        ...

    async def remove(self, tx: Tx, content_id: str) -> dict[str, Any] | None:
        """Take published content down; returns what is needed to deliver it again."""
        ...

    async def deliver(self, withheld: dict[str, Any]) -> str | None:
        """Publish withheld content (after its own transaction); returns its new id, or None
        when it can no longer be delivered (the author left the conversation)."""
        ...


class TargetRestrictor(Protocol):
    """What a pillar provides so one object (a payment, a group) can be restricted on its own,
    instead of the whole account: put in force, lifted on reversal, refused when a reviewer
    confirms a hold."""

    async def restrict(self, tx: Tx, target_id: str, statement: dict[str, Any]) -> None: ...

    async def lift(self, tx: Tx, target_id: str) -> None: ...


@dataclass(frozen=True, slots=True)
class DueProcessSettings:
    ladder: Ladder
    appeal_window: timedelta
    export_window: timedelta
    review_sla: timedelta
    appeal_sla: timedelta
    overturn_flag_rate: float
    overturn_flag_min_appeals: int
    unfounded_reports_limit: int
    report_limit: timedelta

    @classmethod
    def from_settings(cls, s: Settings) -> DueProcessSettings:
        return cls(
            ladder=Ladder.parse(s.enforcement_ladder, timedelta(days=s.strike_ttl_days)),
            appeal_window=timedelta(days=s.appeal_window_days),
            export_window=timedelta(days=s.export_window_days),
            review_sla=timedelta(hours=s.review_sla_hours),
            appeal_sla=timedelta(hours=s.appeal_sla_hours),
            overturn_flag_rate=s.overturn_flag_rate,
            overturn_flag_min_appeals=s.overturn_flag_min_appeals,
            unfounded_reports_limit=s.unfounded_reports_limit,
            report_limit=timedelta(days=s.report_limit_days),
        )


class DueProcessService:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        realtime: RealtimeService,
        governance: GovernanceService,
        settings: DueProcessSettings,
    ) -> None:
        self._db = db
        self._clock = clock
        self._realtime = realtime
        self._governance = governance
        self.settings = settings
        self.content: dict[str, ContentHandler] = {}
        self.restrictors: dict[str, TargetRestrictor] = {}

    # -- the primitives: a statement, a restriction, a strike --------------------------------

    async def _issue(
        self, tx: Tx, draft: StatementDraft, *, actor_id: str | None
    ) -> dict[str, Any]:
        """Store a statement of reasons, audit it and notify the person, in ``tx``."""
        now = self._clock.now()
        row = draft.row(new_id(), now, self.settings.appeal_window)
        await store.insert_row(tx.conn, store.statements, row)
        await self._governance.audit(
            tx,
            actor_id=actor_id,
            tag=f"governance:statement:{draft.measure.value}",
            target_type="account",
            target_id=draft.account_id,
            after={
                "statement_id": row["id"],
                "measure": draft.measure.value,
                "content_type": draft.content_type,
                "content_id": draft.content_id,
                "policy_clause": draft.policy_clause,
                "ends_at": draft.ends_at.isoformat() if draft.ends_at else None,
                "automated_decision": draft.automated_decision.value,
            },
        )
        await self._notify(tx, row)
        return row

    async def _notify(self, tx: Tx, statement: dict[str, Any]) -> None:
        await self._realtime.append(
            tx,
            [
                EventDraft(
                    kind=NOTICE_EVENT,
                    account_id=statement["account_id"],
                    payload=notice_payload(statement),
                )
            ],
        )

    async def _restrict(
        self,
        tx: Tx,
        statement: dict[str, Any],
        *,
        removes: frozenset[Capability] = frozenset(),
        target: tuple[str, str] | None = None,
    ) -> str:
        """Put a measure in force: a restriction row, the account's bounds and the statement's
        link to it."""
        measure = Measure(statement["measure"])
        restriction_id = new_id()
        now = self._clock.now()
        removes = removes or (
            DEFAULT_FEATURE_LIMIT if measure is Measure.FEATURE_LIMIT else removes
        )
        await store.insert_row(
            tx.conn,
            store.restrictions,
            {
                "id": restriction_id,
                "account_id": statement["account_id"],
                "measure": measure.value,
                "removes": sorted(c.value for c in removes),
                "starts_at": statement["starts_at"],
                "ends_at": statement["ends_at"],
                "target_type": target[0] if target else None,
                "target_id": target[1] if target else None,
                "statement_id": statement["id"],
                "created_at": now,
            },
        )
        await store.update_row(
            tx.conn, store.statements, statement["id"], {"restriction_id": restriction_id}
        )
        statement["restriction_id"] = restriction_id
        if measure in ACCOUNT_MEASURES:
            await self._refresh_bounds(tx, statement["account_id"])
        return restriction_id

    async def _refresh_bounds(self, tx: Tx, account_id: str) -> tuple[Bound, ...]:
        """Rebuild the account row's bounds from the restrictions in force."""
        now = self._clock.now()
        bounds: list[Bound] = []
        for row in await store.restrictions_in_force(tx.conn, account_id, now):
            if row["measure"] == Measure.TERMINATED.value:
                bounds.extend(self._termination_bounds(row))
                continue
            removes = frozenset(Capability(c) for c in row["removes"])
            bound = bound_for(
                row["id"], Measure(row["measure"]), row["starts_at"], row["ends_at"], removes
            )
            if bound is not None:
                bounds.append(bound)
        state, until = headline(bounds, now)
        await accounts_store.update_account(
            tx.conn,
            account_id,
            now,
            state=state.value,
            state_until=until,
            enforcement=[b.to_json() for b in bounds] or None,
        )
        self._governance.access_changed(tx, account_id)
        return tuple(bounds)

    def _termination_bounds(self, row: dict[str, Any]) -> list[Bound]:
        """A termination takes effect when its appeal window closes: until then the account is
        suspended (it can appeal, export, withdraw); after it, terminated, with the export
        kept for the export window."""
        start = row["starts_at"]
        final = start + self.settings.appeal_window
        return [
            Bound(row["id"], AccountState.SUSPENDED, frozenset(), start, final),
            Bound(row["id"] + ":final", AccountState.TERMINATED, frozenset(), final, None),
            Bound(
                row["id"] + ":export",
                None,
                frozenset({Capability.EXPORT}),
                final + self.settings.export_window,
                None,
            ),
        ]

    async def _strike(self, tx: Tx, statement: dict[str, Any]) -> dict[str, Any] | None:
        """Count a confirmed violation and take the ladder's next step, if any; returns the
        statement of that step."""
        now = self._clock.now()
        account_id = statement["account_id"]
        await store.insert_row(
            tx.conn,
            store.strikes,
            {
                "id": new_id(),
                "account_id": account_id,
                "statement_id": statement["id"],
                "given_at": now,
                "expires_at": now + self.settings.ladder.strike_ttl,
            },
        )
        strikes = active_strikes(await store.strike_times(tx.conn, account_id), now)
        step = self.settings.ladder.step_for(
            strikes, warned_before=await store.has_warning(tx.conn, account_id)
        )
        if step is None:
            return None
        what, what_zh = what_it_means(step.measure)
        draft = StatementDraft(
            account_id=account_id,
            measure=step.measure,
            starts_at=now,
            ends_at=now + step.duration if step.duration else None,
            policy_clause=statement["policy_clause"],
            reason=f"{what} You have {strikes} active strike(s): {statement['reason']}",
            reason_zh=f"{what_zh} 你有 {strikes} 次有效违规记录：{statement['reason_zh']}",
            facts=(
                f"The enforcement ladder ({self.settings.ladder.describe()}) gives"
                f" {step.describe()} at {step.strikes} active strike(s). The latest strike comes"
                f" from notice {statement['id']}. Strikes expire after"
                f" {self.settings.ladder.strike_ttl.days} days."
            ),
            facts_zh=(
                f"处罚阶梯（{self.settings.ladder.describe()}）在 {step.strikes} 次有效违规记录时"
                f"给予 {step.describe()}。最近一次违规记录来自通知 {statement['id']}。"
                f"违规记录在 {self.settings.ladder.strike_ttl.days} 天后失效。"
            ),
            source=Source(statement["source"]),
            automated_detection=bool(statement["automated_detection"]),
            automated_decision=Automation(statement["automated_decision"]),
            category=statement["category"],
            decided_by=statement["decided_by"],
            caused_by=statement["id"],
        )
        step_statement = await self._issue(tx, draft, actor_id=statement["decided_by"])
        if step.measure in ACCOUNT_MEASURES:
            await self._restrict(tx, step_statement, removes=step.removes)
        return step_statement

    # -- content withheld by the rules engine -------------------------------------------------

    async def withhold_in(self, tx: Tx, decision: Decision, content: Withheld) -> tuple[str, str]:
        """Keep held or blocked content for its author, with a statement (and for a hold, a
        review item), inside the pillar's write transaction: (statement id, content id). A
        retry with the same client id gets the first attempt's statement."""
        if content.client_id is not None:
            existing = await store.withheld_by_client_id(
                tx.conn, content.author_id, content.content_type, content.client_id
            )
            if existing is not None and existing["statement_id"]:
                return existing["statement_id"], existing["id"]
        now = self._clock.now()
        measure = Measure.HOLD if decision.verdict is Verdict.HOLD else Measure.BLOCK
        draft = from_decision(
            decision,
            account_id=content.author_id,
            measure=measure,
            now=now,
            content_type=content.content_type,
            content_id=content.content_id,
            conversation_id=content.conversation_id,
            text=content.text,
        )
        statement = await self._issue(tx, draft, actor_id=None)
        await store.insert_row(
            tx.conn,
            store.withheld_content,
            {
                "id": content.content_id,
                "content_type": content.content_type,
                "author_id": content.author_id,
                "conversation_id": content.conversation_id,
                "client_id": content.client_id,
                "body": content.body,
                "status": "held" if measure is Measure.HOLD else "blocked",
                "created_at": now,
                "decision_id": decision.decision_id,
                "statement_id": statement["id"],
            },
        )
        if measure is Measure.HOLD:
            await self._open_item(
                tx,
                kind="hold",
                target=(content.content_type, content.content_id),
                subject=content.author_id,
                conversation_id=content.conversation_id,
                statement_id=statement["id"],
                decision_id=decision.decision_id,
            )
        return statement["id"], content.content_id

    async def _open_item(
        self,
        tx: Tx,
        *,
        kind: str,
        target: tuple[str, str],
        subject: str | None,
        conversation_id: str | None = None,
        statement_id: str | None = None,
        appeal_id: str | None = None,
        decision_id: str | None = None,
        excluded: Sequence[str] = (),
        priority: int | None = None,
    ) -> dict[str, Any]:
        now = self._clock.now()
        sla = self.settings.appeal_sla if kind == "appeal" else self.settings.review_sla
        row = {
            "id": new_id(),
            "kind": kind,
            "target_type": target[0],
            "target_id": target[1],
            "subject_account_id": subject,
            "conversation_id": conversation_id,
            "statement_id": statement_id,
            "appeal_id": appeal_id,
            "decision_id": decision_id,
            "priority": priority if priority is not None else PRIORITY[kind],
            "created_at": now,
            "due_at": now + sla,
            "status": "open",
            "reports": 0,
            "excluded": sorted({*excluded, *([subject] if subject else [])}),
        }
        await store.insert_row(tx.conn, store.review_items, row)
        await self._governance.audit(
            tx,
            actor_id=None,
            tag=f"governance:review:open:{kind}",
            target_type=target[0],
            target_id=target[1],
            after={"item_id": row["id"], "statement_id": statement_id, "appeal_id": appeal_id},
        )
        return row

    async def escalate_in(
        self, tx: Tx, *, content_type: str, content_id: str, author_id: str | None
    ) -> None:
        """Virality's escalation: review whether widely spread labelled content stays."""
        if await store.open_item_for(tx.conn, "virality", content_type, content_id) is None:
            await self._open_item(
                tx, kind="virality", target=(content_type, content_id), subject=author_id
            )

    async def withheld(self, actor: Actor, conversation_id: str | None) -> list[dict[str, Any]]:
        """The actor's own withheld content (only its author ever sees it)."""
        self._governance.capabilities(actor.standing).require(Capability.READ_NOTICES)
        async with self._db.read() as conn:
            rows = await store.withheld_for_author(conn, actor.id, conversation_id)
        return [_withheld_out(r) for r in rows if r["status"] in {"held", "blocked", "removed"}]

    # -- notices and appeals -------------------------------------------------------------------

    async def notices(self, actor: Actor, before: str | None = None) -> list[dict[str, Any]]:
        """The actor's statements of reasons: readable in every account state."""
        self._governance.capabilities(actor.standing).require(Capability.READ_NOTICES)
        if before is not None and not is_valid_id(before):
            raise InvalidInput("Not a valid cursor.", details={"field": "before"})
        async with self._db.read() as conn:
            rows = await store.statements_for_account(conn, actor.id, before=before)
            appeals = {
                a["statement_id"]: a for a in await store.appeals_for_account(conn, actor.id)
            }
        return [self._present(r, appeals.get(r["id"])) for r in rows]

    async def notice(self, actor: Actor, statement_id: str) -> dict[str, Any]:
        self._governance.capabilities(actor.standing).require(Capability.READ_NOTICES)
        async with self._db.read() as conn:
            row = await self._own_statement(conn, actor, statement_id)
            appeal = await store.appeal_for_statement(conn, statement_id)
        return self._present(row, appeal)

    async def _own_statement(self, conn: Conn, actor: Actor, statement_id: str) -> dict[str, Any]:
        if not is_valid_id(statement_id):
            raise notice_not_found()
        row = await store.get_row(conn, store.statements, statement_id)
        if row is None or row["account_id"] != actor.id:
            raise notice_not_found()
        return row

    def _present(self, row: dict[str, Any], appeal: dict[str, Any] | None) -> dict[str, Any]:
        now = self._clock.now()
        out = notice_payload(row)
        out.update(
            facts=row["facts"],
            facts_zh=row["facts_zh"],
            explanation=row["explanation"],
            source=row["source"],
            automated_detection=row["automated_detection"],
            automated_decision=row["automated_decision"],
            ground=row["ground"],
            category=row["category"],
            decided_by_person=row["decided_by"] is not None,
            appealable_until=row["appealable_until"],
            can_appeal=appeal is None
            and row["status"] == "active"
            and now < row["appealable_until"],
            reversal=row["reversal"],
            redress=(
                "You can appeal in Courtyard until the date shown; a person who did not take this"
                " decision reviews it. You can also use a certified out-of-court dispute"
                " settlement body (DSA Art. 21) or the courts."
            ),
            appeal=_appeal_out(appeal) if appeal else None,
        )
        return out

    async def appeal(self, actor: Actor, statement_id: str, text: str) -> dict[str, Any]:
        """Contest a decision: a reviewer who was not involved in it decides."""
        self._governance.capabilities(actor.standing).require(Capability.APPEAL)
        text = _clean(text, 4000, "text", required=False)
        now = self._clock.now()
        async with self._db.write() as tx:
            statement = await self._own_statement(tx.conn, actor, statement_id)
            if statement["status"] != "active" or now >= statement["appealable_until"]:
                raise AppealClosed
            if await store.appeal_for_statement(tx.conn, statement_id) is not None:
                raise Conflict("This notice was already appealed.", code="already_appealed")
            appeal_id = new_id()
            excluded = [statement["decided_by"]] if statement["decided_by"] else []
            item = await self._open_item(
                tx,
                kind="appeal",
                target=("statement", statement_id),
                subject=actor.id,
                conversation_id=statement["conversation_id"],
                statement_id=statement_id,
                appeal_id=appeal_id,
                decision_id=statement["decision_id"],
                excluded=excluded + await self._deciders_of(tx.conn, statement),
            )
            row = {
                "id": appeal_id,
                "statement_id": statement_id,
                "account_id": actor.id,
                "created_at": now,
                "text": text,
                "additions": [],
                "status": "open",
                "item_id": item["id"],
            }
            await store.insert_row(tx.conn, store.appeals, row)
            await self._governance.audit(
                tx,
                actor_id=actor.id,
                tag="governance:appeal:open",
                target_type="statement",
                target_id=statement_id,
                after={"appeal_id": appeal_id},
            )
        return _appeal_out(row)

    async def _deciders_of(self, conn: Conn, statement: dict[str, Any]) -> list[str]:
        """Everyone who took part in the decision behind a statement (review item deciders)."""
        if not statement["item_id"]:
            return []
        item = await store.get_row(conn, store.review_items, statement["item_id"])
        return list(item["decided_by"] or []) if item else []

    async def add_to_appeal(self, actor: Actor, appeal_id: str, text: str) -> dict[str, Any]:
        self._governance.capabilities(actor.standing).require(Capability.APPEAL)
        text = _clean(text, 4000, "text", required=True)
        if not is_valid_id(appeal_id):
            raise NotFound("No such appeal.", code="appeal_not_found")
        async with self._db.write() as tx:
            row = await store.lock_row(tx.conn, store.appeals, appeal_id)
            if row is None or row["account_id"] != actor.id:
                raise NotFound("No such appeal.", code="appeal_not_found")
            if row["status"] != "open":
                raise Conflict("This appeal was already decided.", code="appeal_decided")
            additions = [*row["additions"], {"at": self._clock.now().isoformat(), "text": text}]
            await store.update_row(tx.conn, store.appeals, appeal_id, {"additions": additions})
            row["additions"] = additions
        return _appeal_out(row)

    # -- reports --------------------------------------------------------------------------------

    async def report(
        self, actor: Actor, target_type: str, target_id: str, category: str, explanation: str
    ) -> dict[str, Any]:
        """A user's notice (DSA Art. 16): a receipt now, the outcome when a reviewer decides.
        Reports on the same target join one review item."""
        self._governance.capabilities(actor.standing).require(Capability.REPORT)
        if target_type not in REPORT_TARGETS:
            raise InvalidInput(
                f"Reports are about one of: {', '.join(sorted(REPORT_TARGETS))}.",
                details={"field": "target_type"},
            )
        if category not in REPORT_CATEGORIES:
            raise InvalidInput(
                f"Pick a category: {', '.join(REPORT_CATEGORIES)}.", details={"field": "category"}
            )
        explanation = _clean(explanation, 2000, "explanation", required=False)
        if not is_valid_id(target_id):
            raise NotFound("Nothing to report there.", code="report_target_not_found")
        now = self._clock.now()
        async with self._db.write() as tx:
            ref = await self._find(tx.conn, actor, target_type, target_id)
            if ref.author_id == actor.id:
                raise InvalidInput("You cannot report yourself.", code="report_self")
            item = await store.open_item_for(tx.conn, "report", target_type, target_id)
            if item is None:
                item = await self._open_item(
                    tx,
                    kind="report",
                    target=(target_type, target_id),
                    subject=ref.author_id,
                    conversation_id=ref.conversation_id,
                    excluded=[actor.id],
                )
            else:
                excluded = sorted({*item["excluded"], actor.id})
                await store.update_row(
                    tx.conn, store.review_items, item["id"], {"excluded": excluded}
                )
            await store.bump_reports(tx.conn, item["id"], PRIORITY["report"])
            row = {
                "id": new_id(),
                "reporter_id": actor.id,
                "target_type": target_type,
                "target_id": target_id,
                "target_account_id": ref.author_id,
                "conversation_id": ref.conversation_id,
                "category": category,
                "explanation": explanation,
                "created_at": now,
                "item_id": item["id"],
                "status": "open",
            }
            await store.insert_row(tx.conn, store.reports, row)
            await self._governance.audit(
                tx,
                actor_id=actor.id,
                tag="governance:report:file",
                target_type=target_type,
                target_id=target_id,
                after={"report_id": row["id"], "item_id": item["id"], "category": category},
            )
        return _report_out(row)

    async def _find(self, conn: Conn, actor: Actor, target_type: str, target_id: str) -> ContentRef:
        if target_type == "account":
            account = await accounts_store.get_account(conn, target_id)
            if account is None:
                raise NotFound("Nothing to report there.", code="report_target_not_found")
            return ContentRef("account", target_id, target_id, None, account.display_name)
        handler = self.content.get(target_type)
        ref = await handler.find(conn, actor.id, target_id) if handler else None
        if ref is None:
            raise NotFound("Nothing to report there.", code="report_target_not_found")
        return ref

    async def my_reports(self, actor: Actor) -> list[dict[str, Any]]:
        """The reporter's log of their reports and outcomes."""
        self._governance.capabilities(actor.standing).require(Capability.READ_NOTICES)
        async with self._db.read() as conn:
            rows = await store.reports_by_reporter(conn, actor.id)
        return [_report_out(r) for r in rows]

    # -- the review queue -----------------------------------------------------------------------

    async def queue(self, reviewer: Actor, kind: str | None = None) -> list[dict[str, Any]]:
        access_operator(reviewer, *REVIEWERS)
        if kind is not None and kind not in OUTCOMES:
            raise InvalidInput("Unknown item kind.", details={"field": "kind"})
        async with self._db.read() as conn:
            rows = await store.queue(conn, kind=kind)
        now = self._clock.now()
        return [_item_out(r, now) for r in rows]

    async def claim(self, reviewer: Actor, item_id: str) -> dict[str, Any]:
        access_operator(reviewer, *REVIEWERS)
        async with self._db.write() as tx:
            item = await self._open_item_for_reviewer(tx.conn, reviewer, item_id)
            if item["assigned_to"] not in (None, reviewer.id):
                raise Conflict("Another reviewer has this item.", code="item_assigned")
            now = self._clock.now()
            await store.update_row(
                tx.conn,
                store.review_items,
                item_id,
                {"assigned_to": reviewer.id, "assigned_at": now},
            )
            await self._governance.audit(
                tx,
                actor_id=reviewer.id,
                tag="governance:review:claim",
                target_type="review_item",
                target_id=item_id,
            )
            item.update(assigned_to=reviewer.id, assigned_at=now)
        return _item_out(item, now)

    async def assign(self, admin: Actor, item_id: str, reviewer_id: str) -> dict[str, Any]:
        """An admin hands an item to a reviewer (who must not be involved in it)."""
        access_operator(admin, OperatorRole.ADMIN)
        if not is_valid_id(reviewer_id):
            raise InvalidInput("Not a reviewer.", details={"field": "reviewer_id"})
        async with self._db.write() as tx:
            target = await accounts_store.get_account(tx.conn, reviewer_id)
            if target is None or not set(REVIEWERS) & set(target.roles):
                raise InvalidInput("Not a reviewer.", details={"field": "reviewer_id"})
            if not is_valid_id(item_id):
                raise item_not_found()
            item = await store.lock_row(tx.conn, store.review_items, item_id)
            if item is None:
                raise item_not_found()
            if item["status"] != "open":
                raise Conflict("This item was already decided.", code="item_decided")
            if reviewer_id in item["excluded"] or reviewer_id == item["subject_account_id"]:
                raise ReviewerConflict("That reviewer is involved in this item.")
            now = self._clock.now()
            await store.update_row(
                tx.conn,
                store.review_items,
                item_id,
                {"assigned_to": reviewer_id, "assigned_at": now},
            )
            await self._governance.audit(
                tx,
                actor_id=admin.id,
                tag="governance:review:assign",
                target_type="review_item",
                target_id=item_id,
                after={"assigned_to": reviewer_id},
            )
            item.update(assigned_to=reviewer_id, assigned_at=now)
        return _item_out(item, now)

    async def _open_item_for_reviewer(
        self, conn: Conn, reviewer: Actor, item_id: str
    ) -> dict[str, Any]:
        if not is_valid_id(item_id):
            raise item_not_found()
        item = await store.lock_row(conn, store.review_items, item_id)
        if item is None:
            raise item_not_found()
        if item["status"] != "open":
            raise Conflict("This item was already decided.", code="item_decided")
        if reviewer.id in item["excluded"] or reviewer.id == item["subject_account_id"]:
            raise ReviewerConflict
        return item

    async def item(self, reviewer: Actor, item_id: str) -> dict[str, Any]:
        """An item with what a reviewer needs: the content in context (as the reporter or the
        author saw it), the engine's explanation, the reports and the appeal."""
        access_operator(reviewer, *REVIEWERS)
        if not is_valid_id(item_id):
            raise item_not_found()
        async with self._db.read() as conn:
            item = await store.get_row(conn, store.review_items, item_id)
            if item is None:
                raise item_not_found()
            out = _item_out(item, self._clock.now())
            reports = await store.reports_of_item(conn, item_id)
            statement = (
                await store.get_row(conn, store.statements, item["statement_id"])
                if item["statement_id"]
                else None
            )
            appeal = (
                await store.get_row(conn, store.appeals, item["appeal_id"])
                if item["appeal_id"]
                else None
            )
            content_type, content_id = item["target_type"], item["target_id"]
            if statement is not None and statement["content_type"]:
                content_type, content_id = statement["content_type"], statement["content_id"]
            withheld = await store.get_row(conn, store.withheld_content, content_id)
            decision = (
                await self._governance.decision(item["decision_id"])
                if item["decision_id"]
                else None
            )
            # Context as the person who brought the matter saw it: the first reporter, or the
            # author for their own held or appealed content.
            viewer = reports[0]["reporter_id"] if reports else item["subject_account_id"]
            handler = self.content.get(content_type)
            context: list[dict[str, Any]] = []
            if handler is not None and viewer is not None:
                context = await handler.context(conn, viewer, content_id, 5)
        out.update(
            reports=[_report_out(r, reviewer_view=True) for r in reports],
            statement=notice_payload(statement)
            | {
                "facts": statement["facts"],
                "facts_zh": statement["facts_zh"],
                "explanation": statement["explanation"],
            }
            if statement
            else None,
            appeal=_appeal_out(appeal) if appeal else None,
            withheld=_withheld_out(withheld) if withheld else None,
            engine=decision,
            context=context,
            outcomes=sorted(outcomes_for(item)),
        )
        return out

    async def decide(
        self,
        reviewer: Actor,
        item_id: str,
        *,
        outcome: str,
        policy_clause: str,
        reasons: str,
        duration_hours: int | None = None,
        manifestly_unfounded: bool = False,
    ) -> dict[str, Any]:
        """A reviewer's decision; it cites a policy clause and gives reasons. Termination needs
        a second reviewer to agree."""
        access_operator(reviewer, *REVIEWERS)
        policy_clause = _clean(policy_clause, 120, "policy_clause", required=True)
        reasons = _clean(reasons, 2000, "reasons", required=True)
        if duration_hours is not None and not 1 <= duration_hours <= 24 * 365:
            raise InvalidInput("Duration is 1 hour to 1 year.", details={"field": "duration_hours"})
        deliveries: list[dict[str, Any]] = []
        async with self._db.write() as tx:
            item = await self._open_item_for_reviewer(tx.conn, reviewer, item_id)
            allowed = outcomes_for(item)
            if outcome not in allowed:
                raise InvalidInput(
                    f"For this item decide one of: {', '.join(sorted(allowed))}.",
                    details={"field": "outcome"},
                )
            now = self._clock.now()
            if outcome == "terminated":
                proposal = item["proposal"]
                if proposal is None:
                    await self._propose_termination(tx, reviewer, item, policy_clause, reasons)
                    item = await store.get_row(tx.conn, store.review_items, item_id) or item
                    return _item_out(item, now)
            ctx = _Decision(reviewer, item, outcome, policy_clause, reasons, duration_hours)
            handler = getattr(self, f"_decide_{item['kind']}")
            deliveries = await handler(tx, ctx, manifestly_unfounded)
            deciders = sorted({*(item["decided_by"] or []), reviewer.id})
            if item["proposal"]:
                deciders = sorted({*deciders, item["proposal"]["by"]})
            await store.update_row(
                tx.conn,
                store.review_items,
                item_id,
                {
                    "status": "decided",
                    "outcome": outcome,
                    "decided_by": deciders,
                    "decided_at": now,
                    "policy_clause": policy_clause,
                    "reasons": reasons,
                },
            )
            await self._governance.audit(
                tx,
                actor_id=reviewer.id,
                tag=f"governance:review:decide:{item['kind']}",
                target_type="review_item",
                target_id=item_id,
                after={"outcome": outcome, "policy_clause": policy_clause, "reasons": reasons},
            )
            item = await store.get_row(tx.conn, store.review_items, item_id) or item
        for withheld in deliveries:
            await self._deliver(withheld)
        return _item_out(item, self._clock.now())

    async def _propose_termination(
        self, tx: Tx, reviewer: Actor, item: dict[str, Any], clause: str, reasons: str
    ) -> None:
        proposal = {
            "outcome": "terminated",
            "by": reviewer.id,
            "at": self._clock.now().isoformat(),
            "policy_clause": clause,
            "reasons": reasons,
        }
        await store.update_row(
            tx.conn,
            store.review_items,
            item["id"],
            {
                "proposal": proposal,
                "assigned_to": None,
                "assigned_at": None,
                # The second reviewer must be someone else.
                "excluded": sorted({*item["excluded"], reviewer.id}),
            },
        )
        await self._governance.audit(
            tx,
            actor_id=reviewer.id,
            tag="governance:review:propose_termination",
            target_type="review_item",
            target_id=item["id"],
            after=proposal,
        )

    # Each kind's decision runs inside the decide transaction and returns withheld content to
    # deliver once it has committed.

    async def _decide_hold(self, tx: Tx, d: _Decision, _unfounded: bool) -> list[dict[str, Any]]:
        if d.item["target_type"] in self.restrictors:
            return await self._decide_target_hold(tx, d)
        statement = await store.get_row(tx.conn, store.statements, d.item["statement_id"])
        withheld = await store.get_row(tx.conn, store.withheld_content, d.item["target_id"])
        assert statement is not None
        assert withheld is not None
        now = self._clock.now()
        if d.outcome == "approve":
            await self._reverse_statement(tx, statement, d, appeal=None)
            return [withheld]
        await store.update_row(
            tx.conn,
            store.withheld_content,
            withheld["id"],
            {"status": "blocked", "resolved_at": now},
        )
        # The hold becomes a block, decided by a person: a new statement says so.
        draft = StatementDraft(
            account_id=statement["account_id"],
            measure=Measure.BLOCK,
            starts_at=now,
            ends_at=None,
            policy_clause=d.policy_clause,
            reason=d.reasons,
            reason_zh=d.reasons,
            facts=(
                f"A reviewer looked at your held {statement['content_type']} (notice"
                f" {statement['id']}) and decided it will not be published."
            ),
            facts_zh=f"审核员查看了你被暂扣的内容（通知 {statement['id']}），决定不予发布。",
            source=Source.VOLUNTARY,
            automated_detection=True,
            automated_decision=Automation.PARTIALLY,
            category=category_for(d.policy_clause),
            content_type=statement["content_type"],
            content_id=statement["content_id"],
            conversation_id=statement["conversation_id"],
            excerpt=statement["excerpt"],
            explanation=statement["explanation"],
            decided_by=d.reviewer.id,
            decision_id=statement["decision_id"],
            item_id=d.item["id"],
        )
        await store.update_row(tx.conn, store.statements, statement["id"], {"status": "ended"})
        block = await self._issue(tx, draft, actor_id=d.reviewer.id)
        await store.update_row(
            tx.conn, store.withheld_content, withheld["id"], {"statement_id": block["id"]}
        )
        await self._strike(tx, block)
        return []

    async def _decide_target_hold(self, tx: Tx, d: _Decision) -> list[dict[str, Any]]:
        """A held payment (or another single object): approving lifts the hold and releases
        it; rejecting has the pillar refuse it (a payment goes back to its payer)."""
        statement = await store.get_row(tx.conn, store.statements, d.item["statement_id"])
        assert statement is not None
        if d.outcome == "approve":
            await self._reverse_statement(tx, statement, d, appeal=None)
            return []
        restrictor = self.restrictors[d.item["target_type"]]
        refuse = getattr(restrictor, "refuse", None)
        if refuse is not None:
            await refuse(tx, d.item["target_id"])
        await store.update_row(tx.conn, store.statements, statement["id"], {"status": "ended"})
        draft = self._reviewer_draft(
            d, Measure(statement["measure"]), statement["account_id"], None
        )
        await self._issue(tx, draft, actor_id=d.reviewer.id)
        return []

    async def hold_target_in(
        self,
        tx: Tx,
        *,
        measure: Measure,
        target_type: str,
        target_id: str,
        account_id: str,
        decision: Decision,
        facts: str,
        facts_zh: str,
    ) -> dict[str, Any]:
        """Hold one object (a suspect payment) instead of restricting the whole account: a
        statement, a restriction on that object and a review item, in the pillar's
        transaction. The pillar's ``TargetRestrictor`` is told to put the hold in force."""
        if target_type not in self.restrictors:
            raise RuntimeError(f"no restrictor registered for {target_type!r}")
        now = self._clock.now()
        enforced = decision.hits
        lead = enforced[0] if enforced else None
        draft = StatementDraft(
            account_id=account_id,
            measure=measure,
            starts_at=now,
            ends_at=None,
            policy_clause=lead.policy_clause if lead else "terms#payments",
            reason="; ".join(h.reason for h in enforced) or "Held for review.",
            reason_zh="；".join(h.reason_zh for h in enforced) or "暂扣待审核。",
            facts=facts,
            facts_zh=facts_zh,
            source=Source.VOLUNTARY,
            automated_detection=decision.automated,
            automated_decision=Automation.FULLY if decision.automated else Automation.NOT_AUTOMATED,
            category=category_for(lead.policy_clause)
            if lead
            else "STATEMENT_CATEGORY_SCAMS_AND_FRAUD",
            content_type=target_type,
            content_id=target_id,
            explanation=visible_explanation([h.explain() for h in enforced]),
            decision_id=decision.decision_id,
        )
        statement = await self._issue(tx, draft, actor_id=None)
        await self._restrict(tx, statement, target=(target_type, target_id))
        await self.restrictors[target_type].restrict(tx, target_id, statement)
        await self._open_item(
            tx,
            kind="hold",
            target=(target_type, target_id),
            subject=account_id,
            statement_id=statement["id"],
            decision_id=decision.decision_id,
        )
        return statement

    async def _decide_report(
        self, tx: Tx, d: _Decision, manifestly_unfounded: bool
    ) -> list[dict[str, Any]]:
        now = self._clock.now()
        target_type, target_id = d.item["target_type"], d.item["target_id"]
        subject = d.item["subject_account_id"]
        if d.outcome == "no_violation":
            resolved = await store.resolve_reports(
                tx.conn,
                d.item["id"],
                status="dismissed",
                outcome=d.reasons,
                unfounded=manifestly_unfounded,
                now=now,
            )
            await self._tell_reporters(tx, resolved, "dismissed", d.reasons)
            if manifestly_unfounded:
                for reporter in sorted({r["reporter_id"] for r in resolved}):
                    await self._check_unfounded(tx, reporter, d)
            return []
        statement: dict[str, Any] | None = None
        if d.outcome == "remove":
            handler = self.content.get(target_type)
            body = await handler.remove(tx, target_id) if handler else None
            if body is None:
                raise Conflict("This content is already gone.", code="content_gone")
            statement = await self._issue(
                tx, self._reviewer_draft(d, Measure.REMOVE, subject, body), actor_id=d.reviewer.id
            )
            kept = {
                "content_type": target_type,
                "author_id": subject,
                "conversation_id": body.get("conversation_id"),
                "client_id": body.get("client_id"),
                "body": body,
                "status": "removed",
                "created_at": now,
                "statement_id": statement["id"],
            }
            if await store.get_row(tx.conn, store.withheld_content, target_id) is None:
                await store.insert_row(tx.conn, store.withheld_content, {"id": target_id, **kept})
            else:  # it was held once and released: the same id, withheld again
                await store.update_row(tx.conn, store.withheld_content, target_id, kept)
            await self._strike(tx, statement)
        elif d.outcome == "group_read_only":
            await self._group_read_only(tx, d, subject)
        else:
            statement = await self._account_measure(tx, d, subject)
        resolved = await store.resolve_reports(
            tx.conn, d.item["id"], status="actioned", outcome=d.reasons, unfounded=False, now=now
        )
        await self._tell_reporters(tx, resolved, "actioned", d.reasons)
        return []

    async def _decide_escalation(
        self, tx: Tx, d: _Decision, manifestly_unfounded: bool
    ) -> list[dict[str, Any]]:
        if d.outcome != "no_violation":
            await self._account_measure(tx, d, d.item["subject_account_id"])
        return []

    async def _decide_virality(
        self, tx: Tx, d: _Decision, _unfounded: bool
    ) -> list[dict[str, Any]]:
        if d.outcome == "keep":
            return []
        if d.outcome == "remove":
            return await self._decide_report(tx, d, False)
        subject = d.item["subject_account_id"]
        if subject is not None:
            await self._issue(
                tx,
                self._reviewer_draft(d, Measure.REDUCE_REACH, subject, None),
                actor_id=d.reviewer.id,
            )
        return []

    async def _group_read_only(self, tx: Tx, d: _Decision, owner: str | None) -> None:
        """The platform's measure on a whole group: read-only, with a notice to its owner (the
        group tells its members)."""
        restrictor = self.restrictors.get("group")
        if d.item["target_type"] != "group" or restrictor is None:
            raise InvalidInput(
                "Read-only mode is for reports about a group.", details={"field": "outcome"}
            )
        now = self._clock.now()
        draft = _replace(
            self._reviewer_draft(d, Measure.GROUP_READ_ONLY, owner, None),
            ends_at=now + timedelta(hours=d.duration_hours) if d.duration_hours else None,
        )
        statement = await self._issue(tx, draft, actor_id=d.reviewer.id)
        await self._restrict(tx, statement, target=("group", d.item["target_id"]))
        await restrictor.restrict(tx, d.item["target_id"], statement)

    async def _account_measure(self, tx: Tx, d: _Decision, subject: str | None) -> dict[str, Any]:
        if subject is None:
            raise InvalidInput("This item has no account to act on.", code="no_subject")
        measure = Measure(d.outcome)
        now = self._clock.now()
        if measure is Measure.SUSPENDED and not await store.has_warning(tx.conn, subject):
            raise Conflict(
                "Suspension needs a prior warning (DSA Art. 23): warn first.",
                code="warning_required",
            )
        ends = None
        if measure in {Measure.FEATURE_LIMIT, Measure.LIMITED, Measure.SUSPENDED}:
            hours = d.duration_hours or (24 * 7)
            ends = now + timedelta(hours=hours)
        draft = self._reviewer_draft(d, measure, subject, None)
        draft = _replace(draft, ends_at=ends)
        statement = await self._issue(tx, draft, actor_id=d.reviewer.id)
        if measure in ACCOUNT_MEASURES:
            await self._restrict(tx, statement)
        return statement

    def _reviewer_draft(
        self, d: _Decision, measure: Measure, subject: str | None, body: dict[str, Any] | None
    ) -> StatementDraft:
        assert subject is not None
        now = self._clock.now()
        reported = d.item["reports"] > 0
        source = Source.NOTICE if reported else Source.VOLUNTARY
        what, what_zh = what_it_means(measure)
        facts = (
            f"{'Other users reported' if reported else 'Courtyard found'} this"
            f" {d.item['target_type']}; a reviewer examined it on {now:%Y-%m-%d} and decided:"
            f" {what}"
        )
        facts_zh = (
            f"{'其他用户举报了' if reported else '平台发现了'}此内容；审核员于"
            f" {now:%Y-%m-%d} 审查后决定：{what_zh}"
        )
        return StatementDraft(
            account_id=subject,
            measure=measure,
            starts_at=now,
            ends_at=None,
            policy_clause=d.policy_clause,
            reason=d.reasons,
            reason_zh=d.reasons,
            facts=facts,
            facts_zh=facts_zh,
            source=source,
            automated_detection=d.item["kind"] in {"hold", "virality"},
            automated_decision=Automation.NOT_AUTOMATED,
            category=category_for(d.policy_clause),
            content_type=d.item["target_type"],
            content_id=d.item["target_id"],
            conversation_id=d.item["conversation_id"],
            excerpt=excerpt_of(str(body.get("text", ""))) if body else None,
            decided_by=d.reviewer.id,
            item_id=d.item["id"],
        )

    async def _decide_appeal(self, tx: Tx, d: _Decision, _unfounded: bool) -> list[dict[str, Any]]:
        appeal = await store.get_row(tx.conn, store.appeals, d.item["appeal_id"])
        statement = await store.get_row(tx.conn, store.statements, d.item["statement_id"])
        assert appeal is not None
        assert statement is not None
        now = self._clock.now()
        status = "reversed" if d.outcome == "reverse" else "upheld"
        await store.update_row(
            tx.conn,
            store.appeals,
            appeal["id"],
            {
                "status": status,
                "decided_by": d.reviewer.id,
                "decided_at": now,
                "reasons": d.reasons,
            },
        )
        await self._governance.audit(
            tx,
            actor_id=d.reviewer.id,
            tag=f"governance:appeal:{status}",
            target_type="statement",
            target_id=statement["id"],
            after={"appeal_id": appeal["id"], "reasons": d.reasons},
        )
        deliveries: list[dict[str, Any]] = []
        if status == "reversed":
            deliveries = await self._reverse_statement(tx, statement, d, appeal=appeal)
        else:
            await self._notify(tx, {**statement, "appeal_status": "upheld"})
        if statement["decision_id"]:
            await self._check_overturns(tx, statement["decision_id"])
        return deliveries

    async def _reverse_statement(
        self,
        tx: Tx,
        statement: dict[str, Any],
        d: _Decision,
        *,
        appeal: dict[str, Any] | None,
    ) -> list[dict[str, Any]]:
        """Undo a decision: lift its restriction, void its strike, restore its content, and
        say so on the notice. Returns withheld content to deliver after commit."""
        now = self._clock.now()
        reversal = {
            "at": now.isoformat(),
            "by_appeal": appeal["id"] if appeal else None,
            "reasons": d.reasons,
            "policy_clause": d.policy_clause,
        }
        await store.update_row(
            tx.conn,
            store.statements,
            statement["id"],
            {"status": "reversed", "reversed_at": now, "reversal": reversal},
        )
        await store.void_strikes(tx.conn, statement["id"], now)
        if statement["restriction_id"]:
            restriction = await store.get_row(
                tx.conn, store.restrictions, statement["restriction_id"]
            )
            await store.update_row(
                tx.conn,
                store.restrictions,
                statement["restriction_id"],
                {"lifted_at": now, "lifted_by": d.reviewer.id, "lift_reason": d.reasons},
            )
            target = restriction["target_type"] if restriction else None
            if target is None:
                await self._refresh_bounds(tx, statement["account_id"])
            elif target in self.restrictors:
                assert restriction is not None
                await self.restrictors[target].lift(tx, restriction["target_id"])
        await self._governance.audit(
            tx,
            actor_id=d.reviewer.id,
            tag="governance:statement:reverse",
            target_type="account",
            target_id=statement["account_id"],
            after={"statement_id": statement["id"], **reversal},
        )
        await self._notify(tx, {**statement, "status": "reversed", "reversal": reversal})
        deliveries: list[dict[str, Any]] = []
        # Ladder steps the reversed strike caused are reversed with it.
        for step in await store.statements_caused_by(tx.conn, statement["id"]):
            deliveries += await self._reverse_statement(tx, step, d, appeal=None)
        if statement["content_id"]:
            withheld = await store.get_row(tx.conn, store.withheld_content, statement["content_id"])
            if withheld is not None and withheld["status"] in {"held", "blocked", "removed"}:
                await store.update_row(
                    tx.conn,
                    store.withheld_content,
                    withheld["id"],
                    {"status": "releasing", "resolved_at": now},
                )
                deliveries.append(withheld)
        return deliveries

    async def _deliver(self, withheld: dict[str, Any]) -> None:
        handler = self.content.get(withheld["content_type"])
        delivered: str | None = None
        if handler is not None:
            try:
                delivered = await handler.deliver(withheld)
            except CourtyardError as exc:
                log.warning("withheld %s could not be delivered: %s", withheld["id"], exc)
        async with self._db.write() as tx:
            await store.update_row(
                tx.conn,
                store.withheld_content,
                withheld["id"],
                {"status": "released" if delivered else "undeliverable"},
            )

    async def _tell_reporters(
        self, tx: Tx, reports: list[dict[str, Any]], status: str, outcome: str
    ) -> None:
        drafts = [
            EventDraft(
                kind=REPORT_OUTCOME_EVENT,
                account_id=r["reporter_id"],
                payload={"report_id": r["id"], "status": status, "outcome": outcome},
            )
            for r in reports
        ]
        if drafts:
            await self._realtime.append(tx, drafts)

    async def _check_unfounded(self, tx: Tx, reporter_id: str, d: _Decision) -> None:
        """DSA Art. 23(2): someone who keeps filing manifestly unfounded reports has their
        reports limited for a while, with a notice."""
        now = self._clock.now()
        count = await store.unfounded_reports_since(tx.conn, reporter_id, now - timedelta(days=30))
        if count < self.settings.unfounded_reports_limit:
            return
        for row in await store.restrictions_in_force(tx.conn, reporter_id, now):
            if Capability.REPORT.value in row["removes"]:
                return
        draft = StatementDraft(
            account_id=reporter_id,
            measure=Measure.FEATURE_LIMIT,
            starts_at=now,
            ends_at=now + self.settings.report_limit,
            policy_clause="community-guidelines#reporting",
            reason=(
                f"{count} of your reports in the last 30 days were manifestly unfounded, so you"
                " cannot file reports for a while."
            ),
            reason_zh=f"你在过去 30 天内有 {count} 次明显无依据的举报，因此暂时无法举报。",
            facts=(
                "Reviewers found your reports manifestly unfounded. Only reporting is limited;"
                " everything else on your account is unaffected."
            ),
            facts_zh="审核员认定你的举报明显无依据。只有举报功能受限，账号的其他功能不受影响。",
            source=Source.VOLUNTARY,
            automated_detection=False,
            automated_decision=Automation.PARTIALLY,
            decided_by=d.reviewer.id,
        )
        statement = await self._issue(tx, draft, actor_id=d.reviewer.id)
        await self._restrict(tx, statement, removes=frozenset({Capability.REPORT}))

    async def _check_overturns(self, tx: Tx, decision_id: str) -> None:
        """Flag a rule to admins when too many of its decisions are reversed on appeal."""
        rules = await store.rules_of_decision(tx.conn, decision_id)
        outcomes = await store.appeal_outcomes_by_rule(tx.conn, rules)
        now = self._clock.now()
        for rule_id, (decided, reversed_) in sorted(outcomes.items()):
            rate = reversed_ / decided if decided else 0.0
            if decided < self.settings.overturn_flag_min_appeals:
                continue
            if rate < self.settings.overturn_flag_rate:
                continue
            if await store.upsert_rule_flag(tx.conn, rule_id, now, decided, reversed_, rate):
                await self._governance.audit(
                    tx,
                    actor_id=None,
                    tag="governance:rule:flag",
                    target_type="rule",
                    target_id=rule_id,
                    after={"appeals": decided, "reversals": reversed_, "rate": rate},
                )
                await self._realtime.append(
                    tx,
                    [
                        EventDraft(
                            kind=RULE_FLAG_EVENT,
                            account_id=admin_id,
                            payload={"rule_id": rule_id, "appeals": decided, "rate": rate},
                        )
                        for admin_id in await accounts_store.operator_ids(tx.conn, "admin")
                    ],
                )

    async def flagged_rules(self, reviewer: Actor) -> list[dict[str, Any]]:
        access_operator(reviewer, *REVIEWERS)
        async with self._db.read() as conn:
            return await store.flagged_rules(conn)

    # -- direct measures by staff, and the standing an account sees --------------------------

    async def impose(
        self,
        reviewer: Actor,
        account_id: str,
        *,
        measure: str,
        policy_clause: str,
        reasons: str,
        duration_hours: int | None = None,
    ) -> dict[str, Any]:
        """A staff measure on an account, outside a report: opens an escalation item and
        decides it at once (termination still needs a second reviewer)."""
        access_operator(reviewer, *REVIEWERS)
        if not is_valid_id(account_id):
            raise NotFound("No such account.", code="account_not_found")
        async with self._db.write() as tx:
            if await accounts_store.get_account(tx.conn, account_id) is None:
                raise NotFound("No such account.", code="account_not_found")
            if account_id == reviewer.id:
                raise ReviewerConflict
            item = await self._open_item(
                tx, kind="escalation", target=("account", account_id), subject=account_id
            )
        return await self.decide(
            reviewer,
            item["id"],
            outcome=measure,
            policy_clause=policy_clause,
            reasons=reasons,
            duration_hours=duration_hours,
        )

    async def standing(self, actor: Actor) -> dict[str, Any]:
        """What the account may do now and why: restrictions in force with their notices,
        active strikes, capabilities."""
        self._governance.capabilities(actor.standing).require(Capability.READ_NOTICES)
        now = self._clock.now()
        async with self._db.read() as conn:
            account = await accounts_store.get_account(conn, actor.id)
            rows = await store.restrictions_in_force(conn, actor.id, now)
            strikes = active_strikes(await store.strike_times(conn, actor.id), now)
        assert account is not None
        capabilities = self._governance.capabilities(account.standing)
        return {
            "state": capabilities.state.value,
            "capabilities": sorted(c.value for c in capabilities.granted),
            "active_strikes": strikes,
            "restrictions": [
                {
                    "id": r["id"],
                    "measure": r["measure"],
                    "removes": r["removes"],
                    "starts_at": r["starts_at"],
                    "ends_at": r["ends_at"],
                    "statement_id": r["statement_id"],
                }
                for r in rows
            ],
        }

    async def capabilities_of(self, account_id: str) -> frozenset[Capability]:
        """The account's capabilities now, from its stored row (used by tests and tools)."""
        async with self._db.read() as conn:
            account = await accounts_store.get_account(conn, account_id)
        if account is None:
            return frozenset()
        standing: Standing = account.standing
        return self._governance.capabilities(standing).granted


@dataclass(frozen=True, slots=True)
class _Decision:
    reviewer: Actor
    item: dict[str, Any]
    outcome: str
    policy_clause: str
    reasons: str
    duration_hours: int | None


def _replace(draft: StatementDraft, **changes: Any) -> StatementDraft:
    from dataclasses import replace

    return replace(draft, **changes)


def _clean(value: str, limit: int, field: str, *, required: bool) -> str:
    value = (value or "").strip()
    if required and not value:
        raise InvalidInput(f"{field} is required.", details={"field": field})
    if len(value) > limit:
        raise InvalidInput(f"{field} is at most {limit} characters.", details={"field": field})
    if any(ord(ch) < 32 and ch not in "\n\t" for ch in value):
        raise InvalidInput(f"{field} has control characters.", details={"field": field})
    return value


def notice_payload(row: dict[str, Any]) -> dict[str, Any]:
    """The short form of a notice: what the realtime event and the list carry."""
    what, what_zh = what_it_means(Measure(row["measure"]))
    return {
        "id": row["id"],
        "measure": row["measure"],
        "what": what,
        "what_zh": what_zh,
        "created_at": row["created_at"],
        "starts_at": row["starts_at"],
        "ends_at": row["ends_at"],
        "content_type": row["content_type"],
        "content_id": row["content_id"],
        "conversation_id": row["conversation_id"],
        "excerpt": row["excerpt"],
        "policy_clause": row["policy_clause"],
        "reason": row["reason"],
        "reason_zh": row["reason_zh"],
        "status": row["status"],
        "automated": row["automated_decision"] == Automation.FULLY.value,
        "appeal_status": row.get("appeal_status"),
    }


def _appeal_out(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "statement_id": row["statement_id"],
        "created_at": row["created_at"],
        "text": row["text"],
        "additions": row["additions"],
        "status": row["status"],
        "decided_at": row.get("decided_at"),
        "reasons": row.get("reasons"),
    }


def _report_out(row: dict[str, Any], *, reviewer_view: bool = False) -> dict[str, Any]:
    out = {
        "id": row["id"],
        "target_type": row["target_type"],
        "target_id": row["target_id"],
        "category": row["category"],
        "explanation": row["explanation"],
        "created_at": row["created_at"],
        "status": row["status"],
        "outcome": row.get("outcome"),
        "resolved_at": row.get("resolved_at"),
    }
    if reviewer_view:
        out["reporter_id"] = row["reporter_id"]
    return out


def _withheld_out(row: dict[str, Any]) -> dict[str, Any]:
    body = row["body"] or {}
    return {
        "id": row["id"],
        "content_type": row["content_type"],
        "conversation_id": row["conversation_id"],
        "client_id": row["client_id"],
        "text": body.get("text", ""),
        "status": row["status"],
        "created_at": row["created_at"],
        "statement_id": row["statement_id"],
    }


def _item_out(row: dict[str, Any], now: datetime) -> dict[str, Any]:
    return {
        "id": row["id"],
        "kind": row["kind"],
        "target_type": row["target_type"],
        "target_id": row["target_id"],
        "subject_account_id": row["subject_account_id"],
        "conversation_id": row["conversation_id"],
        "priority": row["priority"],
        "created_at": row["created_at"],
        "due_at": row["due_at"],
        "overdue": row["status"] == "open" and now > row["due_at"],
        "status": row["status"],
        "assigned_to": row["assigned_to"],
        "reports": row["reports"],
        "awaiting_second_reviewer": bool(row["proposal"]) and row["status"] == "open",
        "proposal": row["proposal"],
        "outcome": row["outcome"],
        "decided_by": row["decided_by"],
        "decided_at": row["decided_at"],
        "policy_clause": row["policy_clause"],
        "reasons": row["reasons"],
    }
