"""Contacts tables and their SQL. Functions take a connection and never commit.

A friendship is stored as two rows, one per direction, so each side keeps its own remark and
labels. At most one *open* request (pending or ignored) may exist per ordered pair: a partial
unique index enforces it on both backends.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Column,
    ForeignKey,
    Index,
    String,
    Table,
    Text,
    UniqueConstraint,
    and_,
    delete,
    func,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.engine import Row

from courtyard.accounts.store import accounts
from courtyard.contacts.model import (
    OPEN_STATUSES,
    Direction,
    FriendRequest,
    Friendship,
    Label,
    Pair,
    RequestStatus,
)
from courtyard.core.db import Conn, UTCDateTime, metadata
from courtyard.governance.model import AccountState

_OPEN = sorted(s.value for s in OPEN_STATUSES)
# The partial index's condition, spelled out from the enum (constant values, not input).
_OPEN_SQL = text("status IN (" + ", ".join(f"'{s}'" for s in _OPEN) + ")")

contact_requests = Table(
    "contact_requests",
    metadata,
    Column("id", String(26), primary_key=True),
    Column("from_id", String(26), ForeignKey("accounts.id"), nullable=False),
    Column("to_id", String(26), ForeignKey("accounts.id"), nullable=False),
    Column("message", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("status_changed_at", UTCDateTime(), nullable=True),
    Index("ix_contact_requests_to", "to_id", "status", "id"),
    Index("ix_contact_requests_from", "from_id", "status", "id"),
    Index(
        "uq_contact_requests_open_pair",
        "from_id",
        "to_id",
        unique=True,
        sqlite_where=_OPEN_SQL,
        postgresql_where=_OPEN_SQL,
    ),
)

friendships = Table(
    "friendships",
    metadata,
    Column("owner_id", String(26), ForeignKey("accounts.id"), primary_key=True),
    Column("friend_id", String(26), ForeignKey("accounts.id"), primary_key=True),
    Column("remark", String(64), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Index("ix_friendships_friend", "friend_id"),
)

contact_blocks = Table(
    "contact_blocks",
    metadata,
    Column("blocker_id", String(26), ForeignKey("accounts.id"), primary_key=True),
    Column("blocked_id", String(26), ForeignKey("accounts.id"), primary_key=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Index("ix_contact_blocks_blocked", "blocked_id"),
)

contact_labels = Table(
    "contact_labels",
    metadata,
    Column("id", String(26), primary_key=True),
    Column("owner_id", String(26), ForeignKey("accounts.id"), nullable=False),
    Column("name", String(32), nullable=False),
    Column("name_key", String(128), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    UniqueConstraint("owner_id", "name_key", name="uq_contact_labels_owner_name"),
)

contact_label_members = Table(
    "contact_label_members",
    metadata,
    Column("label_id", String(26), ForeignKey("contact_labels.id"), primary_key=True),
    Column("friend_id", String(26), ForeignKey("accounts.id"), primary_key=True),
    Column("owner_id", String(26), ForeignKey("accounts.id"), nullable=False),
    Index("ix_contact_label_members_owner_friend", "owner_id", "friend_id"),
)

_LOCK_NAMESPACE = 7_316_002  # advisory-lock class for contacts (migrations use 7_316_001)


async def lock_accounts(conn: Conn, *account_ids: str) -> None:
    """Serialise contacts writes touching these accounts until the transaction ends.

    Caps and "at most one open request" are read-then-write rules; on PostgreSQL concurrent
    writers take transaction-scoped advisory locks in a fixed order (no deadlocks). SQLite
    already runs one writer at a time (BEGIN IMMEDIATE), so there is nothing to do.
    """
    if conn.dialect.name != "postgresql":
        return
    for account_id in sorted(set(account_ids)):
        await conn.execute(
            text("SELECT pg_advisory_xact_lock(CAST(:ns AS integer), hashtext(:id))"),
            {"ns": _LOCK_NAMESPACE, "id": account_id},
        )


# ---- the pair ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StoredPair:
    pair: Pair
    a_to_b_id: str | None = None
    b_to_a_id: str | None = None


async def load_pair(conn: Conn, a: str, b: str) -> StoredPair:
    """Friendship, blocks and open requests between ``a`` and ``b``, seen from ``a``."""
    friends = (
        await conn.execute(
            select(friendships.c.owner_id).where(
                friendships.c.owner_id == a, friendships.c.friend_id == b
            )
        )
    ).first() is not None
    block_rows = await conn.execute(
        select(contact_blocks.c.blocker_id).where(
            or_(
                and_(contact_blocks.c.blocker_id == a, contact_blocks.c.blocked_id == b),
                and_(contact_blocks.c.blocker_id == b, contact_blocks.c.blocked_id == a),
            )
        )
    )
    blockers = {row[0] for row in block_rows}
    request_rows = await conn.execute(
        select(contact_requests.c.id, contact_requests.c.from_id, contact_requests.c.status).where(
            or_(
                and_(contact_requests.c.from_id == a, contact_requests.c.to_id == b),
                and_(contact_requests.c.from_id == b, contact_requests.c.to_id == a),
            ),
            contact_requests.c.status.in_(_OPEN),
        )
    )
    a_to_b: tuple[str, RequestStatus] | None = None
    b_to_a: tuple[str, RequestStatus] | None = None
    for row in request_rows:
        found = (str(row.id), RequestStatus(row.status))
        if row.from_id == a:
            a_to_b = found
        else:
            b_to_a = found
    return StoredPair(
        Pair(
            friends=friends,
            a_blocks_b=a in blockers,
            b_blocks_a=b in blockers,
            a_to_b=a_to_b[1] if a_to_b else None,
            b_to_a=b_to_a[1] if b_to_a else None,
        ),
        a_to_b_id=a_to_b[0] if a_to_b else None,
        b_to_a_id=b_to_a[0] if b_to_a else None,
    )


# ---- requests ------------------------------------------------------------------------------


def _request(row: Row[Any]) -> FriendRequest:
    m = row._mapping
    return FriendRequest(
        id=m["id"],
        from_id=m["from_id"],
        to_id=m["to_id"],
        message=m["message"],
        status=RequestStatus(m["status"]),
        created_at=m["created_at"],
        status_changed_at=m["status_changed_at"],
    )


async def insert_request(conn: Conn, request: FriendRequest) -> None:
    await conn.execute(
        insert(contact_requests).values(
            id=request.id,
            from_id=request.from_id,
            to_id=request.to_id,
            message=request.message,
            status=request.status.value,
            created_at=request.created_at,
            status_changed_at=request.status_changed_at,
        )
    )


async def get_request(conn: Conn, request_id: str) -> FriendRequest | None:
    row = (
        await conn.execute(select(contact_requests).where(contact_requests.c.id == request_id))
    ).first()
    return None if row is None else _request(row)


async def set_request_status(
    conn: Conn, request_id: str, status: RequestStatus, now: datetime
) -> None:
    await conn.execute(
        update(contact_requests)
        .where(contact_requests.c.id == request_id)
        .values(status=status.value, status_changed_at=now)
    )


async def list_requests(
    conn: Conn, account_id: str, direction: Direction, before_id: str | None, limit: int
) -> list[FriendRequest]:
    """Newest first. Incoming: pending only (ignored ones are set aside). Outgoing: every
    open request, ignored ones included, because the sender is never told."""
    c = contact_requests.c
    if direction is Direction.INCOMING:
        condition = and_(c.to_id == account_id, c.status == RequestStatus.PENDING.value)
        other = c.from_id
    else:
        condition = and_(c.from_id == account_id, c.status.in_(_OPEN))
        other = c.to_id
    query = (
        select(contact_requests)
        .join(accounts, accounts.c.id == other)
        .where(condition, accounts.c.state != AccountState.DELETED.value)
    )
    if before_id is not None:
        query = query.where(c.id < before_id)
    rows = await conn.execute(query.order_by(c.id.desc()).limit(limit))
    return [_request(row) for row in rows]


# ---- friendships ---------------------------------------------------------------------------


async def count_friends(conn: Conn, account_id: str) -> int:
    return int(
        (
            await conn.execute(select(func.count()).where(friendships.c.owner_id == account_id))
        ).scalar_one()
    )


async def insert_friendship(
    conn: Conn, a: str, b: str, now: datetime, *, a_remark: str | None = None
) -> None:
    """Both directions at once: a friendship is symmetric."""
    await conn.execute(
        insert(friendships),
        [
            {"owner_id": a, "friend_id": b, "remark": a_remark, "created_at": now},
            {"owner_id": b, "friend_id": a, "remark": None, "created_at": now},
        ],
    )


async def delete_friendship(conn: Conn, a: str, b: str) -> None:
    """Both directions, with the labels each side had put on the other."""
    m = contact_label_members.c
    await conn.execute(
        delete(contact_label_members).where(
            or_(
                and_(m.owner_id == a, m.friend_id == b),
                and_(m.owner_id == b, m.friend_id == a),
            )
        )
    )
    f = friendships.c
    await conn.execute(
        delete(friendships).where(
            or_(and_(f.owner_id == a, f.friend_id == b), and_(f.owner_id == b, f.friend_id == a))
        )
    )


async def get_friendship(conn: Conn, owner_id: str, friend_id: str) -> Friendship | None:
    row = (
        await conn.execute(
            select(friendships).where(
                friendships.c.owner_id == owner_id, friendships.c.friend_id == friend_id
            )
        )
    ).first()
    if row is None:
        return None
    labels = await labels_for_friends(conn, owner_id, [friend_id])
    return Friendship(
        owner_id=owner_id,
        friend_id=friend_id,
        remark=row.remark,
        created_at=row.created_at,
        label_ids=tuple(labels.get(friend_id, ())),
    )


async def set_remark(conn: Conn, owner_id: str, friend_id: str, remark: str | None) -> None:
    await conn.execute(
        update(friendships)
        .where(friendships.c.owner_id == owner_id, friendships.c.friend_id == friend_id)
        .values(remark=remark)
    )


async def list_friends(
    conn: Conn, owner_id: str, *, label_id: str | None, after_handle: str | None, limit: int
) -> list[tuple[Friendship, str]]:
    """A page of friends ordered by handle (live accounts only), with each friend's handle."""
    f = friendships.c
    query = (
        select(f.friend_id, f.remark, f.created_at, accounts.c.handle)
        .join(accounts, accounts.c.id == f.friend_id)
        .where(f.owner_id == owner_id, accounts.c.state != AccountState.DELETED.value)
    )
    if label_id is not None:
        m = contact_label_members.c
        query = query.join(
            contact_label_members,
            and_(m.owner_id == owner_id, m.friend_id == f.friend_id, m.label_id == label_id),
        )
    if after_handle is not None:
        query = query.where(accounts.c.handle > after_handle)
    rows = await conn.execute(query.order_by(accounts.c.handle).limit(limit))
    return [
        (Friendship(owner_id, row.friend_id, row.remark, row.created_at), row.handle)
        for row in rows
    ]


async def friend_ids(conn: Conn, owner_id: str) -> set[str]:
    rows = await conn.execute(
        select(friendships.c.friend_id).where(friendships.c.owner_id == owner_id)
    )
    return {row[0] for row in rows}


async def friend_ids_with_labels(conn: Conn, owner_id: str, label_ids: Iterable[str]) -> set[str]:
    wanted = sorted(set(label_ids))
    if not wanted:
        return set()
    m = contact_label_members.c
    rows = await conn.execute(
        select(m.friend_id)
        .join(
            friendships,
            and_(friendships.c.owner_id == m.owner_id, friendships.c.friend_id == m.friend_id),
        )
        .where(m.owner_id == owner_id, m.label_id.in_(wanted))
        .distinct()
    )
    return {row[0] for row in rows}


async def are_friends(conn: Conn, a: str, b: str) -> bool:
    row = (
        await conn.execute(
            select(friendships.c.owner_id).where(
                friendships.c.owner_id == a, friendships.c.friend_id == b
            )
        )
    ).first()
    return row is not None


# ---- blocks --------------------------------------------------------------------------------


async def insert_block(conn: Conn, blocker_id: str, blocked_id: str, now: datetime) -> None:
    await conn.execute(
        insert(contact_blocks).values(blocker_id=blocker_id, blocked_id=blocked_id, created_at=now)
    )


async def delete_block(conn: Conn, blocker_id: str, blocked_id: str) -> None:
    await conn.execute(
        delete(contact_blocks).where(
            contact_blocks.c.blocker_id == blocker_id, contact_blocks.c.blocked_id == blocked_id
        )
    )


async def get_block_time(conn: Conn, blocker_id: str, blocked_id: str) -> datetime | None:
    value: datetime | None = (
        await conn.execute(
            select(contact_blocks.c.created_at).where(
                contact_blocks.c.blocker_id == blocker_id,
                contact_blocks.c.blocked_id == blocked_id,
            )
        )
    ).scalar()
    return value


async def list_blocks(conn: Conn, blocker_id: str) -> list[tuple[str, datetime]]:
    rows = await conn.execute(
        select(contact_blocks.c.blocked_id, contact_blocks.c.created_at)
        .where(contact_blocks.c.blocker_id == blocker_id)
        .order_by(contact_blocks.c.created_at.desc(), contact_blocks.c.blocked_id)
    )
    return [(row.blocked_id, row.created_at) for row in rows]


async def blockers_of(conn: Conn, blocked_id: str, among: Sequence[str]) -> set[str]:
    """Which of ``among`` have blocked ``blocked_id``."""
    if not among:
        return set()
    rows = await conn.execute(
        select(contact_blocks.c.blocker_id).where(
            contact_blocks.c.blocked_id == blocked_id, contact_blocks.c.blocker_id.in_(among)
        )
    )
    return {row[0] for row in rows}


async def is_blocked_either_way(conn: Conn, a: str, b: str) -> bool:
    c = contact_blocks.c
    row = (
        await conn.execute(
            select(c.blocker_id).where(
                or_(
                    and_(c.blocker_id == a, c.blocked_id == b),
                    and_(c.blocker_id == b, c.blocked_id == a),
                )
            )
        )
    ).first()
    return row is not None


# ---- labels --------------------------------------------------------------------------------


def _label(row: Row[Any], friend_count: int = 0) -> Label:
    return Label(
        id=row.id,
        owner_id=row.owner_id,
        name=row.name,
        created_at=row.created_at,
        friend_count=friend_count,
    )


async def insert_label(
    conn: Conn, label_id: str, owner_id: str, name: str, key: str, now: datetime
) -> None:
    await conn.execute(
        insert(contact_labels).values(
            id=label_id, owner_id=owner_id, name=name, name_key=key, created_at=now
        )
    )


async def get_label(conn: Conn, label_id: str) -> Label | None:
    row = (
        await conn.execute(select(contact_labels).where(contact_labels.c.id == label_id))
    ).first()
    if row is None:
        return None
    counts = await _label_counts(conn, row.owner_id, [label_id])
    return _label(row, counts.get(label_id, 0))


async def label_id_by_key(conn: Conn, owner_id: str, key: str) -> str | None:
    value: str | None = (
        await conn.execute(
            select(contact_labels.c.id).where(
                contact_labels.c.owner_id == owner_id, contact_labels.c.name_key == key
            )
        )
    ).scalar()
    return value


async def count_labels(conn: Conn, owner_id: str) -> int:
    return int(
        (
            await conn.execute(select(func.count()).where(contact_labels.c.owner_id == owner_id))
        ).scalar_one()
    )


async def rename_label(conn: Conn, label_id: str, name: str, key: str) -> None:
    await conn.execute(
        update(contact_labels)
        .where(contact_labels.c.id == label_id)
        .values(name=name, name_key=key)
    )


async def delete_label(conn: Conn, label_id: str) -> None:
    await conn.execute(
        delete(contact_label_members).where(contact_label_members.c.label_id == label_id)
    )
    await conn.execute(delete(contact_labels).where(contact_labels.c.id == label_id))


async def _label_counts(
    conn: Conn, owner_id: str, label_ids: Sequence[str] | None = None
) -> dict[str, int]:
    """Live friends per label (the same friends ``list_friends`` would show)."""
    m = contact_label_members.c
    query = (
        select(m.label_id, func.count().label("friends"))
        .join(accounts, accounts.c.id == m.friend_id)
        .where(m.owner_id == owner_id, accounts.c.state != AccountState.DELETED.value)
        .group_by(m.label_id)
    )
    if label_ids is not None:
        query = query.where(m.label_id.in_(label_ids))
    rows = await conn.execute(query)
    return {row.label_id: int(row.friends) for row in rows}


async def list_labels(conn: Conn, owner_id: str) -> list[Label]:
    """Every label of ``owner_id`` with its friend count, in two queries, ordered by name."""
    rows = await conn.execute(
        select(contact_labels)
        .where(contact_labels.c.owner_id == owner_id)
        .order_by(contact_labels.c.name_key, contact_labels.c.id)
    )
    counts = await _label_counts(conn, owner_id)
    return [_label(row, counts.get(row.id, 0)) for row in rows]


async def owned_label_ids(conn: Conn, owner_id: str, label_ids: Iterable[str]) -> set[str]:
    wanted = sorted(set(label_ids))
    if not wanted:
        return set()
    rows = await conn.execute(
        select(contact_labels.c.id).where(
            contact_labels.c.owner_id == owner_id, contact_labels.c.id.in_(wanted)
        )
    )
    return {row[0] for row in rows}


async def labels_for_friends(
    conn: Conn, owner_id: str, friend_ids: Sequence[str]
) -> dict[str, list[str]]:
    """friend id → the ids of the owner's labels on that friend (one query)."""
    if not friend_ids:
        return {}
    m = contact_label_members.c
    rows = await conn.execute(
        select(m.friend_id, m.label_id)
        .where(m.owner_id == owner_id, m.friend_id.in_(friend_ids))
        .order_by(m.friend_id, m.label_id)
    )
    result: dict[str, list[str]] = {}
    for row in rows:
        result.setdefault(row.friend_id, []).append(row.label_id)
    return result


async def set_friend_labels(
    conn: Conn, owner_id: str, friend_id: str, label_ids: Iterable[str]
) -> None:
    """Make ``label_ids`` (already checked to be the owner's) the exact set on this friend."""
    m = contact_label_members.c
    await conn.execute(
        delete(contact_label_members).where(m.owner_id == owner_id, m.friend_id == friend_id)
    )
    wanted = sorted(set(label_ids))
    if wanted:
        await conn.execute(
            insert(contact_label_members),
            [{"label_id": lid, "friend_id": friend_id, "owner_id": owner_id} for lid in wanted],
        )
