"""Due-process tables: statements of reasons, restrictions, strikes, withheld content, reports,
the review queue, appeals and flagged rules; and every SQL statement on them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    String,
    Table,
    Text,
    and_,
    func,
    insert,
    or_,
    select,
    update,
)

from courtyard.core.db import (
    Conn,
    JSONDocument,
    UTCDateTime,
    metadata,
    row_dict,
)
from courtyard.core.db import get_row as get_row  # noqa: PLC0414 - re-exported row helper
from courtyard.core.db import insert_row as insert_row  # noqa: PLC0414 - re-exported row helper
from courtyard.core.db import update_row as update_row  # noqa: PLC0414 - re-exported row helper

# A statement of reasons (DSA Art. 17) for every action that restricts content, reach,
# payments or an account; the person's notice is this row, readable in every account state.
statements = Table(
    "statements",
    metadata,
    Column("id", String(26), primary_key=True),
    Column("account_id", String(26), nullable=False),
    Column("measure", String(30), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("starts_at", UTCDateTime(), nullable=False),
    Column("ends_at", UTCDateTime(), nullable=True),
    Column("content_type", String(30), nullable=True),
    Column("content_id", String(64), nullable=True),
    Column("conversation_id", String(26), nullable=True),
    Column("excerpt", Text, nullable=True),
    Column("ground", String(20), nullable=False),
    Column("policy_clause", String(120), nullable=False),
    Column("category", String(80), nullable=False),
    Column("reason", Text, nullable=False),
    Column("reason_zh", Text, nullable=False),
    Column("facts", Text, nullable=False),
    Column("facts_zh", Text, nullable=False, server_default=""),
    Column("explanation", JSONDocument, nullable=False),
    Column("source", String(30), nullable=False),
    Column("automated_detection", Boolean, nullable=False),
    Column("automated_decision", String(20), nullable=False),
    Column("decided_by", String(26), nullable=True),
    Column("decision_id", String(26), nullable=True),
    Column("restriction_id", String(26), nullable=True),
    Column("item_id", String(26), nullable=True),
    # A ladder step names the statement whose strike triggered it: reversed together.
    Column("caused_by", String(26), nullable=True),
    Column("appealable_until", UTCDateTime(), nullable=False),
    Column("status", String(20), nullable=False),
    Column("reversed_at", UTCDateTime(), nullable=True),
    Column("reversal", JSONDocument, nullable=True),
    Index("ix_statements_account", "account_id", "created_at"),
    Index("ix_statements_created", "created_at"),
    Index("ix_statements_content", "content_type", "content_id"),
)

# An account measure in force or past: the rows the accounts.enforcement bounds are built from.
restrictions = Table(
    "restrictions",
    metadata,
    Column("id", String(26), primary_key=True),
    Column("account_id", String(26), nullable=False),
    Column("measure", String(30), nullable=False),
    Column("removes", JSONDocument, nullable=False),
    Column("starts_at", UTCDateTime(), nullable=False),
    Column("ends_at", UTCDateTime(), nullable=True),
    # A payment hold or a group's read-only mode restricts one object, not the account.
    Column("target_type", String(30), nullable=True),
    Column("target_id", String(64), nullable=True),
    Column("statement_id", String(26), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("lifted_at", UTCDateTime(), nullable=True),
    Column("lifted_by", String(26), nullable=True),
    Column("lift_reason", Text, nullable=True),
    Index("ix_restrictions_account", "account_id", "lifted_at"),
    Index("ix_restrictions_target", "target_type", "target_id"),
)

strikes = Table(
    "strikes",
    metadata,
    Column("id", String(26), primary_key=True),
    Column("account_id", String(26), nullable=False),
    Column("statement_id", String(26), nullable=False),
    Column("given_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=True),
    Column("voided_at", UTCDateTime(), nullable=True),
    Index("ix_strikes_account", "account_id", "given_at"),
)

# Content that governance held or blocked before it was published: kept for its author, for
# the reviewer and for an appeal; released into the conversation if the decision is reversed.
withheld_content = Table(
    "withheld_content",
    metadata,
    Column("id", String(26), primary_key=True),
    Column("content_type", String(30), nullable=False),
    Column("author_id", String(26), nullable=False),
    Column("conversation_id", String(26), nullable=True),
    Column("client_id", String(64), nullable=True),
    Column("body", JSONDocument, nullable=False),
    Column("status", String(20), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("decision_id", String(26), nullable=True),
    Column("statement_id", String(26), nullable=True),
    Column("resolved_at", UTCDateTime(), nullable=True),
    Index("ix_withheld_author", "author_id", "conversation_id", "created_at"),
)

reports = Table(
    "reports",
    metadata,
    Column("id", String(26), primary_key=True),
    Column("reporter_id", String(26), nullable=False),
    Column("target_type", String(30), nullable=False),
    Column("target_id", String(64), nullable=False),
    Column("target_account_id", String(26), nullable=True),
    Column("conversation_id", String(26), nullable=True),
    Column("category", String(80), nullable=False),
    Column("explanation", Text, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("item_id", String(26), nullable=False),
    Column("status", String(20), nullable=False),
    Column("outcome", Text, nullable=True),
    Column("resolved_at", UTCDateTime(), nullable=True),
    Column("unfounded", Boolean, nullable=False, server_default="0"),
    Index("ix_reports_reporter", "reporter_id", "created_at"),
    Index("ix_reports_item", "item_id"),
    Index("ix_reports_conversation", "conversation_id", "created_at"),
)

# The review queue: one open item per (kind, target) so duplicate reports aggregate.
review_items = Table(
    "review_items",
    metadata,
    Column("id", String(26), primary_key=True),
    Column("kind", String(20), nullable=False),
    Column("target_type", String(30), nullable=False),
    Column("target_id", String(64), nullable=False),
    Column("subject_account_id", String(26), nullable=True),
    Column("conversation_id", String(26), nullable=True),
    Column("statement_id", String(26), nullable=True),
    Column("appeal_id", String(26), nullable=True),
    Column("decision_id", String(26), nullable=True),
    Column("priority", Integer, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("due_at", UTCDateTime(), nullable=False),
    Column("status", String(20), nullable=False),
    Column("assigned_to", String(26), nullable=True),
    Column("assigned_at", UTCDateTime(), nullable=True),
    Column("reports", Integer, nullable=False, server_default="0"),
    # Involved people nobody may review this item as: the author, earlier deciders.
    Column("excluded", JSONDocument, nullable=False),
    Column("proposal", JSONDocument, nullable=True),
    Column("outcome", String(30), nullable=True),
    Column("decided_by", JSONDocument, nullable=True),
    Column("decided_at", UTCDateTime(), nullable=True),
    Column("policy_clause", String(120), nullable=True),
    Column("reasons", Text, nullable=True),
    Index("ix_review_items_open", "status", "priority", "due_at"),
    Index("ix_review_items_target", "kind", "target_type", "target_id", "status"),
)

appeals = Table(
    "appeals",
    metadata,
    Column("id", String(26), primary_key=True),
    Column("statement_id", String(26), nullable=False, unique=True),
    Column("account_id", String(26), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("text", Text, nullable=False),
    Column("additions", JSONDocument, nullable=False),
    Column("status", String(20), nullable=False),
    Column("item_id", String(26), nullable=False),
    Column("decided_by", String(26), nullable=True),
    Column("decided_at", UTCDateTime(), nullable=True),
    Column("reasons", Text, nullable=True),
    Index("ix_appeals_account", "account_id", "created_at"),
)

# Rules whose decisions are overturned on appeal above the configured rate.
rule_flags = Table(
    "rule_flags",
    metadata,
    Column("rule_id", String(120), primary_key=True),
    Column("flagged_at", UTCDateTime(), nullable=False),
    Column("appeals", Integer, nullable=False),
    Column("reversals", Integer, nullable=False),
    Column("rate", Float, nullable=False),
    Column("cleared_at", UTCDateTime(), nullable=True),
)


_row = row_dict


async def lock_row(conn: Conn, table: Table, row_id: str) -> dict[str, Any] | None:
    """The row, locked until the transaction ends on PostgreSQL (SQLite writes are serial)."""
    query = select(table).where(table.c.id == row_id)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = (await conn.execute(query)).first()
    return _row(row) if row is not None else None


# -- statements ------------------------------------------------------------------------------


async def statements_for_account(
    conn: Conn, account_id: str, *, before: str | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    query = select(statements).where(statements.c.account_id == account_id)
    if before is not None:
        query = query.where(statements.c.id < before)
    rows = await conn.execute(query.order_by(statements.c.id.desc()).limit(limit))
    return [_row(r) for r in rows]


async def statements_between(
    conn: Conn, start: datetime, end: datetime, *, after_id: str | None = None, limit: int = 1000
) -> list[dict[str, Any]]:
    query = select(statements).where(
        statements.c.created_at >= start, statements.c.created_at < end
    )
    if after_id is not None:
        query = query.where(statements.c.id > after_id)
    rows = await conn.execute(query.order_by(statements.c.id).limit(limit))
    return [_row(r) for r in rows]


async def statements_caused_by(conn: Conn, statement_id: str) -> list[dict[str, Any]]:
    rows = await conn.execute(
        select(statements).where(
            statements.c.caused_by == statement_id, statements.c.status == "active"
        )
    )
    return [_row(r) for r in rows]


async def statements_for_content(
    conn: Conn, content_type: str, content_id: str
) -> list[dict[str, Any]]:
    rows = await conn.execute(
        select(statements)
        .where(statements.c.content_type == content_type, statements.c.content_id == content_id)
        .order_by(statements.c.id)
    )
    return [_row(r) for r in rows]


# -- restrictions and strikes ----------------------------------------------------------------


async def restrictions_in_force(conn: Conn, account_id: str, now: datetime) -> list[dict[str, Any]]:
    """Account restrictions not lifted and not ended (future-starting ones included)."""
    rows = await conn.execute(
        select(restrictions)
        .where(
            restrictions.c.account_id == account_id,
            restrictions.c.target_type.is_(None),
            restrictions.c.lifted_at.is_(None),
            or_(restrictions.c.ends_at.is_(None), restrictions.c.ends_at > now),
        )
        .order_by(restrictions.c.id)
    )
    return [_row(r) for r in rows]


async def restrictions_of_account(conn: Conn, account_id: str) -> list[dict[str, Any]]:
    rows = await conn.execute(
        select(restrictions)
        .where(restrictions.c.account_id == account_id)
        .order_by(restrictions.c.id.desc())
    )
    return [_row(r) for r in rows]


async def target_restriction(conn: Conn, target_type: str, target_id: str) -> dict[str, Any] | None:
    row = (
        await conn.execute(
            select(restrictions)
            .where(
                restrictions.c.target_type == target_type,
                restrictions.c.target_id == target_id,
                restrictions.c.lifted_at.is_(None),
            )
            .order_by(restrictions.c.id.desc())
            .limit(1)
        )
    ).first()
    return _row(row) if row is not None else None


async def strike_times(conn: Conn, account_id: str) -> list[tuple[datetime, datetime | None]]:
    rows = await conn.execute(
        select(strikes.c.given_at, strikes.c.expires_at).where(
            strikes.c.account_id == account_id, strikes.c.voided_at.is_(None)
        )
    )
    return [(r.given_at, r.expires_at) for r in rows]


async def void_strikes(conn: Conn, statement_id: str, now: datetime) -> int:
    result = await conn.execute(
        update(strikes)
        .where(strikes.c.statement_id == statement_id, strikes.c.voided_at.is_(None))
        .values(voided_at=now)
    )
    return int(result.rowcount or 0)


async def has_warning(conn: Conn, account_id: str) -> bool:
    """A prior warning still standing (not reversed): what DSA Art. 23 asks before suspension."""
    row = (
        await conn.execute(
            select(statements.c.id)
            .where(
                statements.c.account_id == account_id,
                statements.c.measure == "warning",
                statements.c.status != "reversed",
            )
            .limit(1)
        )
    ).first()
    return row is not None


# -- withheld content ------------------------------------------------------------------------


async def withheld_for_author(
    conn: Conn, author_id: str, conversation_id: str | None, *, limit: int = 100
) -> list[dict[str, Any]]:
    query = select(withheld_content).where(withheld_content.c.author_id == author_id)
    if conversation_id is not None:
        query = query.where(withheld_content.c.conversation_id == conversation_id)
    rows = await conn.execute(query.order_by(withheld_content.c.id.desc()).limit(limit))
    return [_row(r) for r in rows]


async def withheld_by_client_id(
    conn: Conn, author_id: str, content_type: str, client_id: str
) -> dict[str, Any] | None:
    row = (
        await conn.execute(
            select(withheld_content).where(
                withheld_content.c.author_id == author_id,
                withheld_content.c.content_type == content_type,
                withheld_content.c.client_id == client_id,
            )
        )
    ).first()
    return _row(row) if row is not None else None


# -- reports and the review queue ------------------------------------------------------------


async def open_item_for(
    conn: Conn, kind: str, target_type: str, target_id: str
) -> dict[str, Any] | None:
    row = (
        await conn.execute(
            select(review_items).where(
                review_items.c.kind == kind,
                review_items.c.target_type == target_type,
                review_items.c.target_id == target_id,
                review_items.c.status == "open",
            )
        )
    ).first()
    return _row(row) if row is not None else None


async def bump_reports(conn: Conn, item_id: str, priority: int) -> None:
    await conn.execute(
        update(review_items)
        .where(review_items.c.id == item_id)
        .values(
            reports=review_items.c.reports + 1,
            priority=_greatest(conn)(review_items.c.priority, priority),
        )
    )


def _greatest(conn: Conn) -> Any:
    return func.max if conn.dialect.name == "sqlite" else func.greatest


async def queue(
    conn: Conn, *, status: str = "open", kind: str | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    query = select(review_items).where(review_items.c.status == status)
    if kind is not None:
        query = query.where(review_items.c.kind == kind)
    rows = await conn.execute(
        query.order_by(
            review_items.c.priority.desc(), review_items.c.due_at, review_items.c.id
        ).limit(limit)
    )
    return [_row(r) for r in rows]


async def reports_of_item(conn: Conn, item_id: str) -> list[dict[str, Any]]:
    rows = await conn.execute(
        select(reports).where(reports.c.item_id == item_id).order_by(reports.c.id)
    )
    return [_row(r) for r in rows]


async def reports_by_reporter(
    conn: Conn, reporter_id: str, *, limit: int = 100
) -> list[dict[str, Any]]:
    rows = await conn.execute(
        select(reports)
        .where(reports.c.reporter_id == reporter_id)
        .order_by(reports.c.id.desc())
        .limit(limit)
    )
    return [_row(r) for r in rows]


async def reports_about_conversation(
    conn: Conn, conversation_id: str, *, limit: int = 100
) -> list[dict[str, Any]]:
    rows = await conn.execute(
        select(reports)
        .where(reports.c.conversation_id == conversation_id)
        .order_by(reports.c.id.desc())
        .limit(limit)
    )
    return [_row(r) for r in rows]


async def unfounded_reports_since(conn: Conn, reporter_id: str, since: datetime) -> int:
    row = (
        await conn.execute(
            select(func.count())
            .select_from(reports)
            .where(
                reports.c.reporter_id == reporter_id,
                reports.c.unfounded.is_(True),
                reports.c.resolved_at >= since,
            )
        )
    ).scalar_one()
    return int(row)


async def resolve_reports(
    conn: Conn, item_id: str, *, status: str, outcome: str, unfounded: bool, now: datetime
) -> list[dict[str, Any]]:
    """Close every open report of an item; returns them (their reporters get the outcome)."""
    rows = await reports_of_item(conn, item_id)
    await conn.execute(
        update(reports)
        .where(reports.c.item_id == item_id, reports.c.status == "open")
        .values(status=status, outcome=outcome, unfounded=unfounded, resolved_at=now)
    )
    return [r for r in rows if r["status"] == "open"]


# -- appeals and overturn rates --------------------------------------------------------------


async def appeals_for_account(conn: Conn, account_id: str) -> list[dict[str, Any]]:
    rows = await conn.execute(
        select(appeals).where(appeals.c.account_id == account_id).order_by(appeals.c.id.desc())
    )
    return [_row(r) for r in rows]


async def appeal_for_statement(conn: Conn, statement_id: str) -> dict[str, Any] | None:
    row = (
        await conn.execute(select(appeals).where(appeals.c.statement_id == statement_id))
    ).first()
    return _row(row) if row is not None else None


async def appeal_outcomes_by_rule(
    conn: Conn, rule_ids: Sequence[str]
) -> dict[str, tuple[int, int]]:
    """For each rule: decided appeals against statements whose decision it took part in, and
    how many of them were reversed."""
    from courtyard.governance.store import policy_decision_rules

    if not rule_ids:
        return {}
    rows = await conn.execute(
        select(
            policy_decision_rules.c.rule_id,
            func.count(),
            func.sum(func.coalesce((appeals.c.status == "reversed").cast(Integer), 0)),
        )
        .select_from(
            appeals.join(statements, statements.c.id == appeals.c.statement_id).join(
                policy_decision_rules,
                and_(
                    policy_decision_rules.c.decision_id == statements.c.decision_id,
                    policy_decision_rules.c.mode == "enforce",
                    # The rules that restricted the content, not a label that fired beside them.
                    policy_decision_rules.c.action.in_(["block", "hold"]),
                ),
            )
        )
        .where(
            policy_decision_rules.c.rule_id.in_(list(rule_ids)),
            appeals.c.status.in_(["upheld", "reversed"]),
        )
        .group_by(policy_decision_rules.c.rule_id)
    )
    found: dict[str, tuple[int, int]] = {}
    for row in rows.all():
        rule, count, reversed_ = tuple(row)
        found[str(rule)] = (int(count), int(reversed_ or 0))
    return found


async def rules_of_decision(conn: Conn, decision_id: str) -> list[str]:
    from courtyard.governance.store import policy_decision_rules

    rows = await conn.execute(
        select(policy_decision_rules.c.rule_id).where(
            policy_decision_rules.c.decision_id == decision_id,
            policy_decision_rules.c.mode == "enforce",
            policy_decision_rules.c.action.in_(["block", "hold"]),
        )
    )
    return [r[0] for r in rows]


async def flagged_rules(conn: Conn) -> list[dict[str, Any]]:
    rows = await conn.execute(
        select(rule_flags).where(rule_flags.c.cleared_at.is_(None)).order_by(rule_flags.c.rule_id)
    )
    return [_row(r) for r in rows]


async def upsert_rule_flag(
    conn: Conn, rule_id: str, now: datetime, appeals_count: int, reversals: int, rate: float
) -> bool:
    """Flag a rule (or refresh its figures); True when the flag is new."""
    existing = (
        await conn.execute(select(rule_flags).where(rule_flags.c.rule_id == rule_id))
    ).first()
    values: dict[str, Any] = {"appeals": appeals_count, "reversals": reversals, "rate": rate}
    if existing is None:
        await conn.execute(insert(rule_flags).values(rule_id=rule_id, flagged_at=now, **values))
        return True
    fresh = existing.cleared_at is not None
    if fresh:
        values.update(flagged_at=now, cleared_at=None)
    await conn.execute(update(rule_flags).where(rule_flags.c.rule_id == rule_id).values(**values))
    return fresh
