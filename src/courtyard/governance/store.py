"""Governance tables: rule pack versions, recorded decisions, counters, content reach and the
audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    insert,
    select,
)

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
    # "enforce" when an enforced rule fired; "shadow" when only shadow rules did (nothing was
    # done to the user, the record is what the rule would have done).
    Column("mode", String(10), nullable=False, server_default="enforce"),
    Column("automated_detection", Boolean, nullable=False, server_default="1"),
    Column("automated_decision", Boolean, nullable=False, server_default="1"),
    Column("content_type", String(40), nullable=True),
    Column("content_id", String(64), nullable=True),
    Index("ix_policy_decisions_actor", "actor_id", "decided_at"),
    Index("ix_policy_decisions_content", "content_type", "content_id"),
)

# One row per rule that fired in a decision: shadow results, per-rule statistics and (later)
# overturn rates are queries over this table, not over the JSON in ``hits``.
policy_decision_rules = Table(
    "policy_decision_rules",
    metadata,
    Column("decision_id", String(26), primary_key=True),
    Column("rule_id", String(120), primary_key=True),
    Column("pack_id", String(80), nullable=False),
    Column("pack_version", Integer, nullable=False),
    Column("action", String(20), nullable=False),
    Column("mode", String(10), nullable=False),
    Column("event_kind", String(40), nullable=False),
    Column("decided_at", UTCDateTime(), nullable=False),
    Index("ix_policy_decision_rules_rule", "rule_id", "decided_at"),
)

# Every version of every rule pack, whether it came from a file in the policy directory or
# from the admin API; the newest version of a pack is the one in force.
policy_packs = Table(
    "policy_packs",
    metadata,
    Column("id", String(26), primary_key=True),
    Column("pack_id", String(80), nullable=False),
    Column("version", Integer, nullable=False),
    Column("source", Text, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("origin", String(20), nullable=False),
    Column("enabled", Boolean, nullable=False, server_default="1"),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("created_by", String(26), nullable=True),
    Column("note", Text, nullable=True),
    UniqueConstraint("pack_id", "version", name="uq_policy_packs_pack_version"),
)

# Counters for rules (rates, distinct recipients, views, shares, payment amounts) when Redis is
# not configured: fixed buckets, summed over the buckets a window covers.
counter_buckets = Table(
    "counter_buckets",
    metadata,
    Column("key", String(200), primary_key=True),
    Column("bucket", BigInteger, primary_key=True, autoincrement=False),
    Column("value", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False),
    Index("ix_counter_buckets_expires", "expires_at"),
)

counter_members = Table(
    "counter_members",
    metadata,
    Column("key", String(200), primary_key=True),
    Column("bucket", BigInteger, primary_key=True, autoincrement=False),
    Column("member", String(64), primary_key=True),
    Column("expires_at", BigInteger, nullable=False),
    Index("ix_counter_members_expires", "expires_at"),
)

# Reach of a piece of content (a message, later a post or an article): unique views, shares and
# forward hops, whether it was escalated for virality and given forwarding friction.
content_reach = Table(
    "content_reach",
    metadata,
    Column("content_type", String(20), primary_key=True),
    Column("content_id", String(64), primary_key=True),
    Column("author_id", String(26), nullable=True),
    Column("views", BigInteger, nullable=False, server_default="0"),
    Column("shares", BigInteger, nullable=False, server_default="0"),
    Column("max_hops", Integer, nullable=False, server_default="0"),
    Column("labels", JSONDocument, nullable=False),
    Column("friction", Boolean, nullable=False, server_default="0"),
    Column("escalated_at", UTCDateTime(), nullable=True),
    Column("decision_id", String(26), nullable=True),
)

# Who saw or shared a piece of content, so that a correction notice reaches exactly them.
content_audience = Table(
    "content_audience",
    metadata,
    Column("content_type", String(20), primary_key=True),
    Column("content_id", String(64), primary_key=True),
    Column("account_id", String(26), primary_key=True),
    Column("viewed_at", UTCDateTime(), nullable=True),
    Column("shared_at", UTCDateTime(), nullable=True),
)

correction_notices = Table(
    "correction_notices",
    metadata,
    Column("id", String(26), primary_key=True),
    Column("content_type", String(20), nullable=False),
    Column("content_id", String(64), nullable=False),
    Column("text", Text, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("created_by", String(26), nullable=True),
    Column("recipients", Integer, nullable=False),
    Index("ix_correction_notices_content", "content_type", "content_id"),
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
