"""The event stream's tables and every SQL statement on them.

``events`` holds one row per realtime event, keyed by a stream id that we assign in commit
order (see ``reserve_stream_ids``); ``stream_position`` is the one-row counter that hands
those ids out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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
    bindparam,
    delete,
    false,
    func,
    or_,
    select,
    union_all,
    update,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from courtyard.core.db import (
    Conn,
    JSONDocument,
    UTCDateTime,
    execute_many,
    fetch_rows,
    metadata,
)
from courtyard.realtime.model import StoredEvent

events = Table(
    "events",
    metadata,
    Column(
        "stream_id",
        BigInteger().with_variant(Integer(), "sqlite"),
        primary_key=True,
        autoincrement=False,
    ),
    # The one account who may see the event (None: visible through its conversation).
    Column("account_id", String(26), nullable=True),
    # For chats: visible to the conversation's members.
    Column("conversation_id", String(26), nullable=True),
    Column("kind", String(64), nullable=False),
    Column("payload", JSONDocument, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    # True when the event's transaction changed who may see its conversation (a join, a
    # removal): tailers reload that conversation's audience before routing it.
    Column("audience_changed", Boolean, nullable=False, default=False, server_default=false()),
    Index("ix_events_account_stream", "account_id", "stream_id"),
    Index("ix_events_conversation_stream", "conversation_id", "stream_id"),
)

# Who may see a conversation's events, over stream time: one row per membership period.
# An account sees event E of the conversation when from_stream <= E <= to_stream (or no end).
stream_audiences = Table(
    "stream_audiences",
    metadata,
    Column("conversation_id", String(26), primary_key=True),
    Column("account_id", String(26), primary_key=True),
    Column(
        "from_stream",
        BigInteger().with_variant(Integer(), "sqlite"),
        primary_key=True,
        autoincrement=False,
    ),
    Column("to_stream", BigInteger, nullable=True),
    Index("ix_stream_audiences_account", "account_id", "conversation_id"),
)

stream_position = Table(
    "stream_position",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("value", BigInteger, nullable=False),
)


def _reserve_statement(dialect: str) -> Any:
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    statement = insert(stream_position).values(id=1, value=bindparam("count", type_=BigInteger))
    return statement.on_conflict_do_update(
        index_elements=[stream_position.c.id],
        set_={"value": stream_position.c.value + statement.excluded.value},
    ).returning(stream_position.c.value)


# Built once per dialect: this runs in every event-writing transaction.
_RESERVE = {name: _reserve_statement(name) for name in ("postgresql", "sqlite")}


async def reserve_stream_ids(conn: Conn, count: int) -> int:
    """Take ``count`` ids; returns the last one (the first is ``last - count + 1``).

    An upsert on the single ``stream_position`` row: the row lock it takes is held until the
    caller's transaction ends, so event-writing transactions commit one after another in id
    order (PostgreSQL, across nodes); SQLite has one writer anyway. A rolled-back transaction
    gives its ids back with the rest of its writes.
    """
    ((last,),) = await fetch_rows(conn, _RESERVE[conn.dialect.name], {"count": count})
    return int(last)


_INSERT_EVENTS = events.insert()


async def insert_events(conn: Conn, rows: Sequence[dict[str, Any]]) -> None:
    await execute_many(conn, _INSERT_EVENTS, rows)


def stored_event(values: Mapping[str, Any]) -> StoredEvent:
    """An ``events`` row (read back, or as ``event_row`` built it) as a ``StoredEvent``."""
    return StoredEvent(
        id=int(values["stream_id"]),
        account_id=values["account_id"],
        conversation_id=values["conversation_id"],
        kind=values["kind"],
        payload=values["payload"],
        created_at=values["created_at"],
        audience_changed=bool(values["audience_changed"]),
    )


def _stored(row: Any) -> StoredEvent:
    return stored_event(row._mapping)


async def events_after(conn: Conn, after: int, limit: int) -> list[StoredEvent]:
    """Every event after ``after``, in stream order: what a node's tailer reads."""
    result = await conn.execute(
        select(events).where(events.c.stream_id > after).order_by(events.c.stream_id).limit(limit)
    )
    return [_stored(row) for row in result]


async def events_for_account_after(
    conn: Conn, account_id: str, after: int, limit: int
) -> list[StoredEvent]:
    """The events one account may see after ``after``, in stream order (replay, HTTP).

    Its own events, plus each conversation's events inside the account's audience periods:
    nothing from before it joined or after it left.
    """
    own = select(events).where(events.c.account_id == account_id, events.c.stream_id > after)
    audience = stream_audiences
    shared = (
        select(events)
        .select_from(events.join(audience, events.c.conversation_id == audience.c.conversation_id))
        .where(
            audience.c.account_id == account_id,
            events.c.stream_id > after,
            events.c.stream_id >= audience.c.from_stream,
            or_(audience.c.to_stream.is_(None), events.c.stream_id <= audience.c.to_stream),
            or_(audience.c.to_stream.is_(None), audience.c.to_stream > after),
        )
    )
    both = union_all(own, shared).subquery()
    result = await conn.execute(select(both).order_by(both.c.stream_id).limit(limit))
    return [_stored(row) for row in result]


async def audience_periods(
    conn: Conn, conversation_ids: list[str], from_stream: int
) -> dict[str, list[tuple[str, int, int | None]]]:
    """Each conversation's (account, from, to) periods that reach ``from_stream`` or later."""
    result = await conn.execute(
        select(stream_audiences).where(
            stream_audiences.c.conversation_id.in_(conversation_ids),
            or_(
                stream_audiences.c.to_stream.is_(None),
                stream_audiences.c.to_stream >= from_stream,
            ),
        )
    )
    periods: dict[str, list[tuple[str, int, int | None]]] = {c: [] for c in conversation_ids}
    for row in result:
        to = None if row.to_stream is None else int(row.to_stream)
        periods[row.conversation_id].append((row.account_id, int(row.from_stream), to))
    return periods


async def open_audience(
    conn: Conn, conversation_id: str, account_ids: list[str], from_stream: int
) -> None:
    if account_ids:
        await conn.execute(
            stream_audiences.insert(),
            [
                {
                    "conversation_id": conversation_id,
                    "account_id": a,
                    "from_stream": from_stream,
                    "to_stream": None,
                }
                for a in account_ids
            ],
        )


async def close_audience(
    conn: Conn, conversation_id: str, account_ids: list[str], to_stream: int
) -> None:
    if account_ids:
        await conn.execute(
            update(stream_audiences)
            .where(
                stream_audiences.c.conversation_id == conversation_id,
                stream_audiences.c.account_id.in_(account_ids),
                stream_audiences.c.to_stream.is_(None),
            )
            .values(to_stream=to_stream)
        )


async def rewrite_payload(conn: Conn, stream_id: int, payload: dict[str, Any]) -> None:
    await conn.execute(
        update(events).where(events.c.stream_id == stream_id).values(payload=payload)
    )


async def last_stream_id(conn: Conn) -> int:
    """The highest committed stream id (0 on an empty stream). Ids are dense (a rolled-back
    transaction gives its ids back), so once retention has deleted every event the counter
    still tells where the stream is."""
    counter = select(stream_position.c.value).where(stream_position.c.id == 1).scalar_subquery()
    result = await conn.execute(select(func.coalesce(func.max(events.c.stream_id), counter, 0)))
    return int(result.scalar_one())


async def first_retained(conn: Conn) -> int:
    """The lowest stream id still stored (one past the last id when retention has deleted
    them all): a cursor below this minus one has lost events. Ids are dense and only
    ``prune_events`` deletes, oldest first, so before any pruning this is 1."""
    result = await conn.execute(select(func.min(events.c.stream_id)))
    value = result.scalar_one_or_none()
    if value is not None:
        return int(value)
    return await last_stream_id(conn) + 1


async def prune_events(conn: Conn, before: datetime, limit: int) -> int:
    """Delete the oldest events written before ``before``, at most ``limit`` of them; returns
    how many went.

    Always a prefix of the stream (every id up to the newest old one), so ``first_retained``
    stays exact; an event a few seconds younger than ``before`` inside that prefix (clocks of
    two nodes) goes with it.
    """
    first = select(func.min(events.c.stream_id)).scalar_subquery()
    result = await conn.execute(
        select(func.max(events.c.stream_id)).where(
            events.c.stream_id < first + limit, events.c.created_at < before
        )
    )
    through = result.scalar_one_or_none()
    if through is None:
        return 0
    deleted = await conn.execute(delete(events).where(events.c.stream_id <= through))
    return int(deleted.rowcount)


async def prune_audiences(conn: Conn, through: int) -> int:
    """Delete the audience periods that ended at or before ``through``: every event they let
    someone see is gone. One scan of the table, once per pruning run."""
    result = await conn.execute(
        delete(stream_audiences).where(
            stream_audiences.c.to_stream.is_not(None), stream_audiences.c.to_stream <= through
        )
    )
    return int(result.rowcount)


def event_row(
    stream_id: int,
    *,
    account_id: str | None,
    conversation_id: str | None,
    kind: str,
    payload: dict[str, Any],
    created_at: datetime,
    audience_changed: bool = False,
) -> dict[str, Any]:
    return {
        "stream_id": stream_id,
        "account_id": account_id,
        "conversation_id": conversation_id,
        "kind": kind,
        "payload": payload,
        "created_at": created_at,
        "audience_changed": audience_changed,
    }
