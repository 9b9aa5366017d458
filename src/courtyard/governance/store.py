"""Governance tables: recorded decisions and the audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, Index, String, Table, Text, insert, select

from courtyard.core.db import Conn, JSONDocument, UTCDateTime, metadata
from courtyard.core.ids import new_id

policy_decisions = Table(
    "policy_decisions",
    metadata,
    Column("id", String(26), primary_key=True),
    Column("decided_at", UTCDateTime(), nullable=False),
    Column("event_kind", String(40), nullable=False),
    Column("actor_id", String(26), nullable=True),
    Column("subject_type", String(40), nullable=False),
    Column("subject_id", String(64), nullable=True),
    Column("verdict", String(20), nullable=False),
    Column("labels", JSONDocument, nullable=False),
    Column("hits", JSONDocument, nullable=False),
    Index("ix_policy_decisions_actor", "actor_id", "decided_at"),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", String(26), primary_key=True),
    Column("at", UTCDateTime(), nullable=False),
    Column("actor_id", String(26), nullable=True),
    Column("tag", String(80), nullable=False),
    Column("target_type", String(40), nullable=False),
    Column("target_id", String(64), nullable=True),
    Column("before", JSONDocument, nullable=True),
    Column("after", JSONDocument, nullable=True),
    Column("note", Text, nullable=True),
    Index("ix_audit_log_target", "target_type", "target_id", "at"),
    Index("ix_audit_log_actor", "actor_id", "at"),
)


async def insert_decision(
    conn: Conn,
    *,
    decided_at: datetime,
    event_kind: str,
    actor_id: str | None,
    subject_type: str,
    subject_id: str | None,
    verdict: str,
    labels: list[str],
    hits: list[dict[str, Any]],
) -> str:
    decision_id = new_id()
    await conn.execute(
        insert(policy_decisions).values(
            id=decision_id,
            decided_at=decided_at,
            event_kind=event_kind,
            actor_id=actor_id,
            subject_type=subject_type,
            subject_id=subject_id,
            verdict=verdict,
            labels=labels,
            hits=hits,
        )
    )
    return decision_id


async def insert_audit(
    conn: Conn,
    *,
    at: datetime,
    actor_id: str | None,
    tag: str,
    target_type: str,
    target_id: str | None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    note: str | None = None,
) -> str:
    audit_id = new_id()
    await conn.execute(
        insert(audit_log).values(
            id=audit_id,
            at=at,
            actor_id=actor_id,
            tag=tag,
            target_type=target_type,
            target_id=target_id,
            before=before,
            after=after,
            note=note,
        )
    )
    return audit_id


async def list_audit_for_target(
    conn: Conn, target_type: str, target_id: str, limit: int = 100
) -> list[dict[str, Any]]:
    rows = await conn.execute(
        select(audit_log)
        .where(audit_log.c.target_type == target_type, audit_log.c.target_id == target_id)
        .order_by(audit_log.c.at, audit_log.c.id)
        .limit(limit)
    )
    return [dict(row._mapping) for row in rows]


async def list_decisions_for_actor(
    conn: Conn, actor_id: str, limit: int = 100
) -> list[dict[str, Any]]:
    rows = await conn.execute(
        select(policy_decisions)
        .where(policy_decisions.c.actor_id == actor_id)
        .order_by(policy_decisions.c.decided_at.desc(), policy_decisions.c.id.desc())
        .limit(limit)
    )
    return [dict(row._mapping) for row in rows]
