"""``execute_many`` writes exactly what ``conn.execute(statement, rows)`` writes, on both
backends: every column type the hot paths use, shared and distinct objects, JSON ``None``,
upserts that add to existing rows, and updates by bound parameters."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    bindparam,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from courtyard.core.db import Database, JSONDocument, UTCDateTime, _many_plan, execute_many

T0 = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)


class Tables:
    """Two identical tables per test (one written each way), dropped afterwards."""

    def __init__(self) -> None:
        self.metadata = MetaData()
        suffix = uuid.uuid4().hex[:10]
        self.fast, self.plain = (self._table(f"many_{name}_{suffix}") for name in ("a", "b"))
        self.fast_insert, self.plain_insert = self.fast.insert(), self.plain.insert()

    def _table(self, name: str) -> Table:
        return Table(
            name,
            self.metadata,
            Column("id", Integer, primary_key=True, autoincrement=False),
            Column("name", String(40), nullable=True),
            Column("body", Text, nullable=False),
            Column("at", UTCDateTime(), nullable=False),
            Column("maybe_at", UTCDateTime(), nullable=True),
            Column("doc", JSONDocument, nullable=True),
            Column("flag", Boolean, nullable=False),
            Column("big", BigInteger, nullable=False),
        )


@pytest.fixture
async def tables(scratch_db: Database) -> AsyncIterator[Tables]:
    made = Tables()
    async with scratch_db.write() as tx:
        await tx.conn.run_sync(made.metadata.create_all)  # type: ignore[attr-defined]
    yield made
    async with scratch_db.write() as tx:
        await tx.conn.run_sync(made.metadata.drop_all)  # type: ignore[attr-defined]


shared_time = T0 + timedelta(seconds=5)
# Text as the app stores it: PostgreSQL cannot hold NUL (text_problem refuses it upstream).
stored_text = st.text(
    st.characters(exclude_characters="\x00", exclude_categories=("Cs",)), max_size=30
)
rows_strategy = st.lists(
    st.fixed_dictionaries(
        {
            "name": st.one_of(st.none(), stored_text.map(lambda t: t[:10])),
            "body": stored_text,
            "at": st.one_of(
                st.just(shared_time),
                st.integers(0, 10**6).map(lambda s: T0 + timedelta(microseconds=s * 7)),
            ),
            "maybe_at": st.one_of(st.none(), st.just(shared_time)),
            "doc": st.one_of(
                st.none(),
                st.lists(st.integers(-5, 5), max_size=3),
                st.dictionaries(stored_text.map(lambda t: t[:3]), st.booleans(), max_size=2),
            ),
            "flag": st.booleans(),
            "big": st.integers(-(2**62), 2**62),
        }
    ),
    min_size=1,
    max_size=12,
)


async def _read(db: Database, table: Table) -> list[tuple[Any, ...]]:
    async with db.read() as conn:
        result = await conn.execute(select(table).order_by(table.c.id))
        return [tuple(row) for row in result]


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(rows=rows_strategy)
async def test_inserts_equal_what_execute_writes(
    scratch_db: Database, tables: Tables, rows: list[dict[str, Any]]
) -> None:
    with_ids = [{"id": index, **row} for index, row in enumerate(rows)]
    async with scratch_db.write() as tx:
        await tx.conn.execute(tables.fast.delete())
        await tx.conn.execute(tables.plain.delete())
        await execute_many(tx.conn, tables.fast_insert, with_ids)
        await tx.conn.execute(tables.plain_insert, with_ids)
    assert await _read(scratch_db, tables.fast) == await _read(scratch_db, tables.plain)
    if len(rows) > 1:  # the plan is used, not the fallback
        async with scratch_db.read() as conn:
            assert _many_plan(conn.dialect, tables.fast_insert, tuple(with_ids[0])) is not None


async def test_json_none_is_stored_as_execute_stores_it(
    scratch_db: Database, tables: Tables
) -> None:
    """JSON columns keep Python None as JSON null unless told otherwise: the fast path must
    not turn it into SQL NULL."""
    rows = [
        {"id": i, "name": None, "body": "", "at": T0, "maybe_at": None, "doc": None, "flag": False}
        | {"big": i}
        for i in range(3)
    ]
    async with scratch_db.write() as tx:
        await execute_many(tx.conn, tables.fast_insert, rows)
        await tx.conn.execute(tables.plain_insert, rows)
    async with scratch_db.read() as conn:
        null_docs = [
            (await conn.execute(select(t.c.doc.is_(None)).order_by(t.c.id))).scalars().all()
            for t in (tables.fast, tables.plain)
        ]
    assert null_docs[0] == null_docs[1]


async def test_upserts_and_updates_equal_execute(scratch_db: Database, tables: Tables) -> None:
    async with scratch_db.read() as conn:
        dialect = conn.dialect.name
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    upserts = []
    for table in (tables.fast, tables.plain):
        base = insert(table)
        upserts.append(
            base.on_conflict_do_update(
                index_elements=[table.c.id], set_={"big": table.c.big + base.excluded.big}
            )
        )
    updates = [
        update(table)
        .where(table.c.id == bindparam("row_id"))
        .values(body=bindparam("new_body"), at=bindparam("new_at", type_=UTCDateTime()))
        for table in (tables.fast, tables.plain)
    ]
    first = [
        {"id": i, "name": f"n{i}", "body": "b", "at": T0, "maybe_at": None}
        | {"doc": {"i": i}, "flag": True, "big": 10 * i}
        for i in range(4)
    ]
    again = [row | {"big": 1} for row in first[1:]] + [first[0] | {"id": 9}]
    edits = [{"row_id": i, "new_body": f"edited {i}", "new_at": shared_time} for i in (0, 2, 9)]
    async with scratch_db.write() as tx:
        for rows in (first, again):
            await execute_many(tx.conn, upserts[0], rows)
            await tx.conn.execute(upserts[1], rows)
        await execute_many(tx.conn, updates[0], edits)
        await tx.conn.execute(updates[1], edits)
    written = await _read(scratch_db, tables.fast)
    assert written == await _read(scratch_db, tables.plain)
    assert [row[-1] for row in written] == [0, 11, 21, 31, 0]  # added to the existing rows
    assert written[2][2] == "edited 2"


async def test_rows_must_share_their_keys(scratch_db: Database, tables: Tables) -> None:
    row = {"id": 1, "name": None, "body": "", "at": T0, "maybe_at": None, "doc": None}
    row |= {"flag": False, "big": 0}
    with pytest.raises((ValueError, KeyError)):
        async with scratch_db.write() as tx:
            await execute_many(tx.conn, tables.fast_insert, [row, {"id": 2}])
    assert await _read(scratch_db, tables.fast) == []  # nothing half-written
