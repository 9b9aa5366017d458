"""The SQL behind the transparency report: counts over the due-process tables for a period.

Every figure is about what happened in the period ``[start, end)``: actions are statements
issued in it, reports and appeals received in it, decisions (report outcomes, appeal
decisions, reversals) taken in it. Durations are computed in Python from the two timestamps,
the same way on SQLite and PostgreSQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Executable, Integer, and_, case, func, or_, select

from courtyard.core.db import Conn
from courtyard.governance.due_process_store import (
    appeals,
    reports,
    rule_flags,
    statements,
    statements_between,
)
from courtyard.governance.store import policy_decision_rules

_PAGE = 1000


@dataclass(frozen=True, slots=True)
class ActionGroup:
    """Statements issued in the period with the same attributes, and how many."""

    measure: str
    source: str
    automated_detection: bool
    automated_decision: str
    ground: str
    category: str
    content_type: str | None
    count: int


@dataclass(frozen=True, slots=True)
class Resolution:
    """A report or appeal decided in the period: its outcome and how long it took."""

    status: str
    seconds: float


@dataclass(frozen=True, slots=True)
class RuleOverturns:
    rule_id: str
    decided: int
    reversed: int


@dataclass(frozen=True, slots=True)
class ReportFigures:
    actions: list[ActionGroup]
    reports_by_category: dict[str, int]
    report_resolutions: list[Resolution]
    appeals_received: int
    appeal_decisions: list[Resolution]
    # Decisions undone in the period other than by an appeal, by measure (holds a reviewer
    # approved, and any other decision a reviewer reversed on their own).
    restored_without_appeal: dict[str, int]
    rule_overturns: list[RuleOverturns]
    flagged_rules: list[dict[str, Any]]


async def _fetch(conn: Conn, query: Executable) -> list[Any]:
    """The rows of a query, as plain sequences (typed ``Any``: each query has its own shape)."""
    return list(await conn.execute(query))


def _seconds(start: datetime, end: datetime) -> float:
    return max(0.0, (end - start).total_seconds())


async def action_groups(conn: Conn, start: datetime, end: datetime) -> list[ActionGroup]:
    columns = (
        statements.c.measure,
        statements.c.source,
        statements.c.automated_detection,
        statements.c.automated_decision,
        statements.c.ground,
        statements.c.category,
        statements.c.content_type,
    )
    rows = await _fetch(
        conn,
        select(*columns, func.count())
        .where(statements.c.created_at >= start, statements.c.created_at < end)
        .group_by(*columns),
    )
    return [
        ActionGroup(
            measure=r[0],
            source=r[1],
            automated_detection=bool(r[2]),
            automated_decision=r[3],
            ground=r[4],
            category=r[5],
            content_type=r[6],
            count=int(r[7]),
        )
        for r in rows
    ]


async def reports_by_category(conn: Conn, start: datetime, end: datetime) -> dict[str, int]:
    rows = await _fetch(
        conn,
        select(reports.c.category, func.count())
        .where(reports.c.created_at >= start, reports.c.created_at < end)
        .group_by(reports.c.category),
    )
    return {r[0]: int(r[1]) for r in rows}


async def report_resolutions(conn: Conn, start: datetime, end: datetime) -> list[Resolution]:
    """Reports actioned or dismissed in the period, with the time since each was made."""
    rows = await _fetch(
        conn,
        select(reports.c.status, reports.c.created_at, reports.c.resolved_at).where(
            reports.c.resolved_at >= start,
            reports.c.resolved_at < end,
            reports.c.status.in_(["actioned", "dismissed"]),
        ),
    )
    return [Resolution(r[0], _seconds(r[1], r[2])) for r in rows]


async def appeals_received(conn: Conn, start: datetime, end: datetime) -> int:
    count = (
        await conn.execute(
            select(func.count())
            .select_from(appeals)
            .where(appeals.c.created_at >= start, appeals.c.created_at < end)
        )
    ).scalar_one()
    return int(count)


async def appeal_decisions(conn: Conn, start: datetime, end: datetime) -> list[Resolution]:
    rows = await _fetch(
        conn,
        select(appeals.c.status, appeals.c.created_at, appeals.c.decided_at).where(
            appeals.c.decided_at >= start,
            appeals.c.decided_at < end,
            appeals.c.status.in_(["upheld", "reversed"]),
        ),
    )
    return [Resolution(r[0], _seconds(r[1], r[2])) for r in rows]


async def restored_without_appeal(conn: Conn, start: datetime, end: datetime) -> dict[str, int]:
    """Statements reversed in the period that no appeal reversed, by measure.

    Ladder steps (``caused_by`` set) are left out: they are undone with the decision that
    caused them, and are not content or decisions of their own.
    """
    by_appeal = and_(appeals.c.statement_id == statements.c.id, appeals.c.status == "reversed")
    rows = await _fetch(
        conn,
        select(statements.c.measure, func.count())
        .select_from(statements.outerjoin(appeals, by_appeal))
        .where(
            statements.c.status == "reversed",
            statements.c.reversed_at >= start,
            statements.c.reversed_at < end,
            statements.c.caused_by.is_(None),
            appeals.c.id.is_(None),
        )
        .group_by(statements.c.measure),
    )
    return {r[0]: int(r[1]) for r in rows}


async def rule_overturns(conn: Conn, start: datetime, end: datetime) -> list[RuleOverturns]:
    """Per rule: appeals decided in the period against statements whose decision the rule
    took part in (enforced, not shadow), and how many of them were reversed."""
    reversed_ = func.sum(case((appeals.c.status == "reversed", 1), else_=0).cast(Integer))
    rows = await _fetch(
        conn,
        select(policy_decision_rules.c.rule_id, func.count(), reversed_)
        .select_from(
            appeals.join(statements, statements.c.id == appeals.c.statement_id).join(
                policy_decision_rules,
                and_(
                    policy_decision_rules.c.decision_id == statements.c.decision_id,
                    policy_decision_rules.c.mode == "enforce",
                    # As the overturn flags: the rules that restricted, not a label beside them.
                    policy_decision_rules.c.action.in_(["block", "hold"]),
                ),
            )
        )
        .where(
            appeals.c.status.in_(["upheld", "reversed"]),
            appeals.c.decided_at >= start,
            appeals.c.decided_at < end,
        )
        .group_by(policy_decision_rules.c.rule_id)
        .order_by(policy_decision_rules.c.rule_id),
    )
    return [RuleOverturns(r[0], int(r[1]), int(r[2] or 0)) for r in rows]


async def flags_in_period(conn: Conn, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """Rules flagged at some moment of the period (flagged before its end, not cleared before
    its start)."""
    rows = await _fetch(
        conn,
        select(rule_flags)
        .where(
            rule_flags.c.flagged_at < end,
            or_(rule_flags.c.cleared_at.is_(None), rule_flags.c.cleared_at >= start),
        )
        .order_by(rule_flags.c.rule_id),
    )
    return [dict(r._mapping) for r in rows]


async def report_figures(conn: Conn, start: datetime, end: datetime) -> ReportFigures:
    return ReportFigures(
        actions=await action_groups(conn, start, end),
        reports_by_category=await reports_by_category(conn, start, end),
        report_resolutions=await report_resolutions(conn, start, end),
        appeals_received=await appeals_received(conn, start, end),
        appeal_decisions=await appeal_decisions(conn, start, end),
        restored_without_appeal=await restored_without_appeal(conn, start, end),
        rule_overturns=await rule_overturns(conn, start, end),
        flagged_rules=await flags_in_period(conn, start, end),
    )


async def statement_rows(conn: Conn, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """Every statement issued in the period, oldest first (read a page at a time)."""
    found: list[dict[str, Any]] = []
    after: str | None = None
    while True:
        page = await statements_between(conn, start, end, after_id=after, limit=_PAGE)
        found += page
        if len(page) < _PAGE:
            return found
        after = page[-1]["id"]
