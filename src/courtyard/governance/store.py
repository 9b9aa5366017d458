"""Governance tables: rule pack versions, recorded decisions, counters, content reach and the
audit log."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ColumnElement,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    bindparam,
    case,
    delete,
    func,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy import distinct as distinct_
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from courtyard.core import json
from courtyard.core.db import (
    Conn,
    JSONDocument,
    UTCDateTime,
    execute_many,
    fetch_rows,
    insert_ignoring_duplicates,
    metadata,
    padded,
)
from courtyard.core.ids import new_id
from courtyard.governance import audit

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
    # The list files (``file = "…"``) as they were read, so a version is complete.
    Column("files", JSONDocument, nullable=True),
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
    # The hash chain (governance/audit.py): gap-free position, previous entry's hash, own hash.
    Column("seq", BigInteger, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    UniqueConstraint("seq", name="uq_audit_log_seq"),
    Index("ix_audit_log_target", "target_type", "target_id", "at"),
    Index("ix_audit_log_actor", "actor_id", "at"),
)

# The chain's head: one row (id=1), locked by each append until its transaction commits, so
# appends from every node form one line.
audit_head = Table(
    "audit_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", BigInteger, nullable=False),
    Column("hash", String(64), nullable=False),
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
    mode: str = "enforce",
    automated_detection: bool = True,
    automated_decision: bool = True,
    content_type: str | None = None,
    content_id: str | None = None,
    rules: Sequence[RuleRow] = (),
) -> str:
    """A decision and one ``policy_decision_rules`` row per rule that fired."""
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
            mode=mode,
            automated_detection=automated_detection,
            automated_decision=automated_decision,
            content_type=content_type,
            content_id=content_id,
        )
    )
    if rules:
        await conn.execute(
            insert(policy_decision_rules),
            [
                {
                    "decision_id": decision_id,
                    "rule_id": rule.rule_id,
                    "pack_id": rule.pack_id,
                    "pack_version": rule.pack_version,
                    "action": rule.action,
                    "mode": rule.mode,
                    "event_kind": event_kind,
                    "decided_at": decided_at,
                }
                for rule in {rule.rule_id: rule for rule in rules}.values()
            ],
        )
    return decision_id


@dataclass(frozen=True, slots=True)
class RuleRow:
    rule_id: str
    pack_id: str
    pack_version: int
    action: str
    mode: str


async def rule_activity(
    conn: Conn, rule_id: str, *, since: datetime, limit: int = 20
) -> tuple[dict[tuple[str, str], int], list[dict[str, Any]]]:
    """What a rule did (or would have done, in shadow) since a time: counts by action and
    mode, and the most recent decisions it took part in."""
    counts_rows = await conn.execute(
        select(
            policy_decision_rules.c.action,
            policy_decision_rules.c.mode,
            func.count(),
        )
        .where(
            policy_decision_rules.c.rule_id == rule_id,
            policy_decision_rules.c.decided_at >= since,
        )
        .group_by(policy_decision_rules.c.action, policy_decision_rules.c.mode)
    )
    rows: list[Any] = list(counts_rows)
    counts = {(str(row[0]), str(row[1])): int(row[2]) for row in rows}
    recent_rows = await conn.execute(
        select(policy_decisions)
        .join(
            policy_decision_rules,
            policy_decision_rules.c.decision_id == policy_decisions.c.id,
        )
        .where(
            policy_decision_rules.c.rule_id == rule_id,
            policy_decision_rules.c.decided_at >= since,
        )
        .order_by(policy_decision_rules.c.decided_at.desc(), policy_decisions.c.id.desc())
        .limit(limit)
    )
    return counts, [dict(row._mapping) for row in recent_rows]


async def get_decision(conn: Conn, decision_id: str) -> dict[str, Any] | None:
    row = (
        await conn.execute(select(policy_decisions).where(policy_decisions.c.id == decision_id))
    ).first()
    return dict(row._mapping) if row is not None else None


# -- rule packs ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PackRow:
    id: str
    pack_id: str
    version: int
    source: str
    files: dict[str, str]
    sha256: str
    origin: str
    enabled: bool
    created_at: datetime
    created_by: str | None
    note: str | None


def _pack_row(row: Any) -> PackRow:
    m = row._mapping
    return PackRow(
        id=m["id"],
        pack_id=m["pack_id"],
        version=int(m["version"]),
        source=m["source"],
        files=dict(m["files"] or {}),
        sha256=m["sha256"],
        origin=m["origin"],
        enabled=bool(m["enabled"]),
        created_at=m["created_at"],
        created_by=m["created_by"],
        note=m["note"],
    )


async def latest_packs(conn: Conn) -> dict[str, PackRow]:
    """The newest version of every pack: the versions in force."""
    newest = (
        select(policy_packs.c.pack_id, func.max(policy_packs.c.version).label("version"))
        .group_by(policy_packs.c.pack_id)
        .subquery()
    )
    rows = await conn.execute(
        select(policy_packs).join(
            newest,
            (newest.c.pack_id == policy_packs.c.pack_id)
            & (newest.c.version == policy_packs.c.version),
        )
    )
    return {row.pack_id: _pack_row(row) for row in rows}


async def latest_file_sha(conn: Conn, pack_id: str) -> str | None:
    row = (
        await conn.execute(
            select(policy_packs.c.sha256)
            .where(policy_packs.c.pack_id == pack_id, policy_packs.c.origin == "file")
            .order_by(policy_packs.c.version.desc())
            .limit(1)
        )
    ).first()
    return row[0] if row is not None else None


async def pack_history(conn: Conn, pack_id: str) -> list[PackRow]:
    rows = await conn.execute(
        select(policy_packs)
        .where(policy_packs.c.pack_id == pack_id)
        .order_by(policy_packs.c.version.desc())
    )
    return [_pack_row(row) for row in rows]


async def get_pack_version(conn: Conn, pack_id: str, version: int) -> PackRow | None:
    row = (
        await conn.execute(
            select(policy_packs).where(
                policy_packs.c.pack_id == pack_id, policy_packs.c.version == version
            )
        )
    ).first()
    return _pack_row(row) if row is not None else None


async def insert_pack_version(
    conn: Conn,
    *,
    pack_id: str,
    source: str,
    files: dict[str, str],
    sha256: str,
    origin: str,
    enabled: bool,
    created_at: datetime,
    created_by: str | None,
    note: str | None,
) -> PackRow:
    """Append the next version of a pack (the unique (pack_id, version) key makes two
    concurrent writers conflict instead of both becoming version N)."""
    current = (
        await conn.execute(
            select(func.max(policy_packs.c.version)).where(policy_packs.c.pack_id == pack_id)
        )
    ).scalar_one()
    row = PackRow(
        id=new_id(),
        pack_id=pack_id,
        version=int(current or 0) + 1,
        source=source,
        files=files,
        sha256=sha256,
        origin=origin,
        enabled=enabled,
        created_at=created_at,
        created_by=created_by,
        note=note,
    )
    await conn.execute(
        insert(policy_packs).values(
            id=row.id,
            pack_id=row.pack_id,
            version=row.version,
            source=row.source,
            files=row.files or None,
            sha256=row.sha256,
            origin=row.origin,
            enabled=row.enabled,
            created_at=row.created_at,
            created_by=row.created_by,
            note=row.note,
        )
    )
    return row


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
    """Append an entry to the hash chain; the head stays locked until the caller commits."""
    head = await _lock_audit_head(conn)
    entry: dict[str, Any] = {
        "seq": head.seq + 1,
        "id": new_id(),
        "at": at,
        "actor_id": actor_id,
        "tag": tag,
        "target_type": target_type,
        "target_id": target_id,
        # Hash what will be read back: the documents as the JSON column stores them.
        "before": None if before is None else json.loads(json.dumps(before)),
        "after": None if after is None else json.loads(json.dumps(after)),
        "note": note,
        "prev_hash": head.hash,
    }
    entry["hash"] = audit.entry_hash(entry)
    await conn.execute(insert(audit_log).values(**entry))
    await conn.execute(
        update(audit_head).where(audit_head.c.id == 1).values(seq=entry["seq"], hash=entry["hash"])
    )
    return str(entry["id"])


async def _lock_audit_head(conn: Conn) -> audit.Head:
    """Read the chain head, row-locked on PostgreSQL (``FOR UPDATE``, held to commit) so
    concurrent appends queue; a SQLite write transaction already excludes other writers."""
    query = select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.id == 1)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = (await conn.execute(query)).first()
    if row is None:
        # No entry yet (the head is written with the first one), or a head lost: go on from
        # the last entry (verify reports a lost head). Concurrent first appends insert once.
        last = (
            await conn.execute(
                select(audit_log.c.seq, audit_log.c.hash).order_by(audit_log.c.seq.desc()).limit(1)
            )
        ).first()
        seed = audit.Head(last.seq, last.hash) if last else audit.Head(0, audit.GENESIS_HASH)
        await conn.execute(
            insert_ignoring_duplicates(conn, audit_head).values(id=1, seq=seed.seq, hash=seed.hash)
        )
        row = (await conn.execute(query)).one()
    return audit.Head(int(row.seq), str(row.hash))


async def get_audit_head(conn: Conn) -> audit.Head | None:
    row = (
        await conn.execute(select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.id == 1))
    ).first()
    return audit.Head(int(row.seq), str(row.hash)) if row else None


async def iter_audit_chain(
    conn: Conn, *, batch_size: int = 5_000
) -> AsyncIterator[list[dict[str, Any]]]:
    """The whole audit log in seq order, a batch at a time (keyset pages on seq)."""
    after_seq: int | None = None
    while True:
        query = select(audit_log).order_by(audit_log.c.seq).limit(batch_size)
        if after_seq is not None:
            query = query.where(audit_log.c.seq > after_seq)
        batch = [dict(row._mapping) for row in await conn.execute(query)]
        if not batch:
            return
        yield batch
        after_seq = int(batch[-1]["seq"])


async def verify_audit_log(conn: Conn, *, batch_size: int = 5_000) -> audit.Verification:
    """Check the whole chain and the head against each other, on one snapshot of the log.

    Use a fresh read connection: on PostgreSQL its transaction is made REPEATABLE READ so that
    entries appended meanwhile are not half seen (the head read before or after them)."""
    if conn.dialect.name == "postgresql":
        await conn.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"))
    head = await get_audit_head(conn)
    verifier = audit.ChainVerifier()
    async for batch in iter_audit_chain(conn, batch_size=batch_size):
        verifier.feed(batch)
    return verifier.report(head)


async def list_audit_for_target(
    conn: Conn, target_type: str, target_id: str, limit: int = 100
) -> list[dict[str, Any]]:
    rows = await conn.execute(
        select(audit_log)
        .where(audit_log.c.target_type == target_type, audit_log.c.target_id == target_id)
        .order_by(audit_log.c.seq)
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


# ---- counters ------------------------------------------------------------------------------
# Buckets are identified by their end (epoch seconds, exclusive), so a read over any window
# sums the buckets ending after the window's start without knowing their width.


def _upsert(conn: Conn, table: Table) -> Any:
    """``INSERT`` with an ``on_conflict_do_update`` method on either backend."""
    if conn.dialect.name == "postgresql":
        return postgresql_insert(table)
    return sqlite_insert(table)


# The counter statements run once per message sent: they are built once per dialect (and read
# shape) and executed with parameters, so SQLAlchemy compiles each of them only once.
_counter_statements: dict[tuple[Any, ...], Any] = {}


def _larger(current: Any, new: Any) -> Any:
    return case((current < new, new), else_=current)


def _add_buckets_statement(conn: Conn) -> Any:
    cache_key = ("buckets", conn.dialect.name)
    stmt = _counter_statements.get(cache_key)
    if stmt is None:
        base = _upsert(conn, counter_buckets)
        stmt = _counter_statements[cache_key] = base.on_conflict_do_update(
            index_elements=[counter_buckets.c.key, counter_buckets.c.bucket],
            set_={
                "value": counter_buckets.c.value + base.excluded.value,
                "expires_at": _larger(counter_buckets.c.expires_at, base.excluded.expires_at),
            },
        )
    return stmt


def _add_members_statement(conn: Conn) -> Any:
    cache_key = ("members", conn.dialect.name)
    stmt = _counter_statements.get(cache_key)
    if stmt is None:
        base = _upsert(conn, counter_members)
        stmt = _counter_statements[cache_key] = base.on_conflict_do_update(
            index_elements=[
                counter_members.c.key,
                counter_members.c.bucket,
                counter_members.c.member,
            ],
            set_={"expires_at": _larger(counter_members.c.expires_at, base.excluded.expires_at)},
        )
    return stmt


def _read_statement(distinct: bool) -> Any:
    """Sums (or distinct members) per key over the buckets ending after ``after``, for a list
    of keys: one statement whatever the batch size (an expanding ``IN``), so SQLAlchemy
    compiles it once and its cache key does not grow with the batch."""
    cache_key = ("read", distinct)
    stmt = _counter_statements.get(cache_key)
    if stmt is None:
        table = counter_members if distinct else counter_buckets
        value: ColumnElement[int] = (
            func.count(distinct_(counter_members.c.member))
            if distinct
            else func.coalesce(func.sum(counter_buckets.c.value), 0)
        )
        stmt = _counter_statements[cache_key] = (
            select(table.c.key, value)
            .where(
                table.c.key.in_(bindparam("keys", expanding=True)),
                table.c.bucket > bindparam("after", type_=BigInteger),
            )
            .group_by(table.c.key)
        )
    return stmt


async def add_counter_buckets(conn: Conn, rows: list[dict[str, Any]]) -> None:
    """Add ``value`` to each (key, bucket); rows must be unique per (key, bucket)."""
    await execute_many(conn, _add_buckets_statement(conn), rows)


async def add_counter_members(conn: Conn, rows: list[dict[str, Any]]) -> None:
    """Record each (key, bucket, member); rows must be unique per (key, bucket, member)."""
    await execute_many(conn, _add_members_statement(conn), rows)


async def read_counters(conn: Conn, reads: list[tuple[str, int, bool]]) -> list[int]:
    """For each (key, after_bucket, distinct): the sum of values (or the number of distinct
    members) in buckets ending after ``after_bucket``. One statement per (distinct, after)
    pair: a batch's reads share their windows, so that is one or two statements."""
    results = [0] * len(reads)
    wanted: dict[tuple[bool, int], dict[str, list[int]]] = {}
    for index, (key, after, distinct) in enumerate(reads):
        wanted.setdefault((distinct, after), {}).setdefault(key, []).append(index)
    for (distinct, after), positions in wanted.items():
        rows = await fetch_rows(
            conn, _read_statement(distinct), {"keys": padded(list(positions)), "after": after}
        )
        for key, value in rows:
            for index in positions.get(key, ()):
                results[index] = int(value)
    return results


async def prune_counters(conn: Conn, now_epoch: int) -> int:
    """Delete buckets and members no read can count any more; returns the rows deleted."""
    deleted = 0
    for table in (counter_buckets, counter_members):
        result = await conn.execute(delete(table).where(table.c.expires_at <= now_epoch))
        deleted += max(result.rowcount or 0, 0)
    return deleted


# ---- content reach -------------------------------------------------------------------------


async def get_reach(conn: Conn, content_type: str, content_id: str) -> dict[str, Any] | None:
    row = (
        await conn.execute(
            select(content_reach).where(
                content_reach.c.content_type == content_type,
                content_reach.c.content_id == content_id,
            )
        )
    ).first()
    return dict(row._mapping) if row is not None else None


async def is_tracked(conn: Conn, content_type: str, content_id: str) -> bool:
    """The cheap check every view of untracked content pays (a primary-key probe)."""
    row = (
        await conn.execute(
            select(content_reach.c.content_id).where(
                content_reach.c.content_type == content_type,
                content_reach.c.content_id == content_id,
            )
        )
    ).first()
    return row is not None


async def track_content(
    conn: Conn, content_type: str, content_id: str, author_id: str | None, labels: list[str]
) -> None:
    """Start tracking the content, or merge ``labels`` into those it already has."""
    await conn.execute(
        insert_ignoring_duplicates(conn, content_reach).values(
            content_type=content_type, content_id=content_id, author_id=author_id, labels=[]
        )
    )
    where = (
        content_reach.c.content_type == content_type,
        content_reach.c.content_id == content_id,
    )
    # The row lock (PostgreSQL) keeps two concurrent merges from losing a label.
    row = (
        await conn.execute(
            select(content_reach.c.labels, content_reach.c.author_id)
            .where(*where)
            .with_for_update()
        )
    ).one()
    merged = sorted(set(row.labels or []) | set(labels))
    values: dict[str, Any] = {}
    if merged != list(row.labels or []):
        values["labels"] = merged
    if row.author_id is None and author_id is not None:
        values["author_id"] = author_id
    if values:
        await conn.execute(update(content_reach).where(*where).values(**values))


async def mark_viewed(
    conn: Conn, content_type: str, content_id: str, viewer_ids: list[str], at: datetime
) -> int:
    """Record first views; returns how many of ``viewer_ids`` (unique) had not viewed before."""
    if not viewer_ids:
        return 0
    stmt = _upsert(conn, content_audience).values(
        [
            {
                "content_type": content_type,
                "content_id": content_id,
                "account_id": account_id,
                "viewed_at": at,
            }
            for account_id in viewer_ids
        ]
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=[
            content_audience.c.content_type,
            content_audience.c.content_id,
            content_audience.c.account_id,
        ],
        set_={"viewed_at": stmt.excluded.viewed_at},
        where=content_audience.c.viewed_at.is_(None),
    ).returning(content_audience.c.account_id)
    return len((await conn.execute(stmt)).all())


async def mark_shared(
    conn: Conn, content_type: str, content_id: str, account_id: str, at: datetime
) -> None:
    """Record that the account shared the content (the first share's time is kept)."""
    stmt = _upsert(conn, content_audience).values(
        content_type=content_type, content_id=content_id, account_id=account_id, shared_at=at
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=[
            content_audience.c.content_type,
            content_audience.c.content_id,
            content_audience.c.account_id,
        ],
        set_={"shared_at": stmt.excluded.shared_at},
        where=content_audience.c.shared_at.is_(None),
    )
    await conn.execute(stmt)


async def add_reach(
    conn: Conn,
    content_type: str,
    content_id: str,
    *,
    views: int = 0,
    shares: int = 0,
    hops: int = 0,
) -> dict[str, Any] | None:
    """Add views and shares, keep the largest hop count; returns the row, None if untracked."""
    stmt = (
        update(content_reach)
        .where(
            content_reach.c.content_type == content_type,
            content_reach.c.content_id == content_id,
        )
        .values(
            views=content_reach.c.views + views,
            shares=content_reach.c.shares + shares,
            max_hops=case((content_reach.c.max_hops < hops, hops), else_=content_reach.c.max_hops),
        )
        .returning(*content_reach.c)
    )
    row = (await conn.execute(stmt)).first()
    return dict(row._mapping) if row is not None else None


async def claim_escalation(conn: Conn, content_type: str, content_id: str, at: datetime) -> bool:
    """Mark the content escalated with friction; True only for the one caller that did it."""
    result = await conn.execute(
        update(content_reach)
        .where(
            content_reach.c.content_type == content_type,
            content_reach.c.content_id == content_id,
            content_reach.c.escalated_at.is_(None),
        )
        .values(friction=True, escalated_at=at)
    )
    return bool(result.rowcount == 1)


async def set_reach_decision(
    conn: Conn, content_type: str, content_id: str, decision_id: str
) -> None:
    await conn.execute(
        update(content_reach)
        .where(
            content_reach.c.content_type == content_type,
            content_reach.c.content_id == content_id,
        )
        .values(decision_id=decision_id)
    )


async def list_audience(conn: Conn, content_type: str, content_id: str) -> list[str]:
    """Everyone who viewed or shared the content."""
    rows = await conn.execute(
        select(content_audience.c.account_id)
        .where(
            content_audience.c.content_type == content_type,
            content_audience.c.content_id == content_id,
            or_(
                content_audience.c.viewed_at.is_not(None), content_audience.c.shared_at.is_not(None)
            ),
        )
        .order_by(content_audience.c.account_id)
    )
    return [row[0] for row in rows]


async def insert_correction_notice(
    conn: Conn,
    *,
    content_type: str,
    content_id: str,
    text: str,
    created_at: datetime,
    created_by: str | None,
    recipients: int,
) -> str:
    notice_id = new_id()
    await conn.execute(
        insert(correction_notices).values(
            id=notice_id,
            content_type=content_type,
            content_id=content_id,
            text=text,
            created_at=created_at,
            created_by=created_by,
            recipients=recipients,
        )
    )
    return notice_id
