"""``fetch_rows`` returns exactly the rows ``conn.execute`` returns, on both backends: every
column type the hot reads use (datetimes, JSON, booleans, big integers, NULLs), expanding
``IN`` lists of any length, row-value ``IN`` over pairs, aggregates and an upsert with
``RETURNING``; on SQLite those statements really take the driver path, and a failing one
raises the error ``execute`` would raise."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy.exc
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
    bindparam,
    case,
    func,
    select,
    tuple_,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from courtyard.core.db import (
    Database,
    JSONDocument,
    UTCDateTime,
    _read_plan,
    execute_many,
    fetch_rows,
    padded,
)

T0 = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)


class Statements:
    """A scratch table and the statements read from it, built once per test (plans are
    cached by statement object, as the stores' module-level statements are)."""

    def __init__(self, dialect: str) -> None:
        self.metadata = MetaData()
        t = self.table = Table(
            f"rows_{uuid.uuid4().hex[:10]}",
            self.metadata,
            Column("id", Integer, primary_key=True, autoincrement=False),
            Column("owner", String(20), nullable=False),
            Column("at", UTCDateTime(), nullable=False),
            Column("maybe_at", UTCDateTime(), nullable=True),
            Column("doc", JSONDocument, nullable=True),
            Column("flag", Boolean, nullable=False),
            Column("big", BigInteger, nullable=False),
        )
        self.by_ids = select(t).where(t.c.id.in_(bindparam("ids", expanding=True)))
        self.by_pairs = select(t.c.id, t.c.doc, t.c.maybe_at).where(
            t.c.owner.in_(bindparam("owners", expanding=True)),
            tuple_(t.c.owner, t.c.id).in_(bindparam("pairs", expanding=True)),
        )
        self.sums = (
            select(
                t.c.owner,
                func.coalesce(func.sum(t.c.big), 0),
                case((t.c.owner == bindparam("special"), True), else_=False).label("special"),
            )
            .where(
                t.c.owner.in_(bindparam("owners", expanding=True)),
                t.c.big > bindparam("after", type_=BigInteger),
            )
            .group_by(t.c.owner)
        )
        insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
        upsert = insert(t).values(
            id=bindparam("id", type_=Integer),
            owner="counter",
            at=T0,
            flag=True,
            big=bindparam("add", type_=BigInteger),
        )
        self.upsert = upsert.on_conflict_do_update(
            index_elements=[t.c.id], set_={"big": t.c.big + upsert.excluded.big}
        ).returning(t.c.big)
        self.plain_insert = insert(t).returning(t.c.id)


@asynccontextmanager
async def scratch_tables(db: Database) -> AsyncIterator[Statements]:
    """The statements over a table of their own, created here and dropped afterwards."""
    made = Statements(db.dialect)
    async with db.write() as tx:
        await tx.conn.run_sync(made.metadata.create_all)  # type: ignore[attr-defined]
    try:
        yield made
    finally:
        async with db.write() as tx:
            await tx.conn.run_sync(made.metadata.drop_all)  # type: ignore[attr-defined]


# Text as the app stores it: PostgreSQL cannot hold NUL (text_problem refuses it upstream).
stored_chars = st.characters(exclude_characters="\x00", exclude_categories=("Cs",))
rows_strategy = st.lists(
    st.fixed_dictionaries(
        {
            "owner": st.sampled_from(["ann", "bo", "cy", "dee"]),
            "at": st.integers(0, 10**7).map(lambda s: T0 + timedelta(seconds=s, microseconds=7)),
            "maybe_at": st.none() | st.integers(0, 10**6).map(lambda s: T0 - timedelta(seconds=s)),
            "doc": st.none()
            | st.dictionaries(
                st.text(stored_chars, max_size=4),
                st.integers(-(2**53), 2**53) | st.text(stored_chars, max_size=6),
                max_size=3,
            )
            | st.lists(st.integers(-(2**53), 2**53), max_size=3),
            "flag": st.booleans(),
            "big": st.integers(-(2**40), 2**40),  # sums of a dozen stay in 64 bits
        }
    ),
    min_size=1,
    max_size=12,
)


async def both_ways(conn: Any, statement: Any, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    fast = await fetch_rows(conn, statement, params)
    plain = [tuple(row) for row in await conn.execute(statement, params)]
    assert sorted(fast, key=repr) == sorted(plain, key=repr)
    return fast


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(rows=rows_strategy, data=st.data())
async def test_rows_are_those_execute_returns(
    scratch_db: Database, rows: list[dict[str, Any]], data: st.DataObject
) -> None:
    async with scratch_tables(scratch_db) as made, scratch_db.write() as tx:
        conn = tx.conn
        numbered = [{"id": i, **row} for i, row in enumerate(rows)]
        await execute_many(conn, made.table.insert(), numbered)
        ids = data.draw(st.lists(st.integers(-2, len(rows) + 2), min_size=1, max_size=9))
        got = await both_ways(conn, made.by_ids, {"ids": padded(ids)})
        assert {row[0] for row in got} == {i for i in ids if 0 <= i < len(rows)}
        assert all(row[2].tzinfo is not None for row in got)  # processed: aware datetimes
        pairs = [(row["owner"], i) for i, row in enumerate(numbered)][: len(rows) // 2 + 1]
        await both_ways(
            conn,
            made.by_pairs,
            {"owners": padded(sorted({o for o, _ in pairs})), "pairs": padded(pairs)},
        )
        after = data.draw(st.integers(-(2**41), 2**41))
        await both_ways(
            conn,
            made.sums,
            {"owners": ["ann", "bo", "cy", "dee"], "after": after, "special": "bo"},
        )
        # An upsert with RETURNING, alternating the two paths on one row.
        first = await fetch_rows(conn, made.upsert, {"id": 10_000, "add": 5})
        second = [tuple(r) for r in await conn.execute(made.upsert, {"id": 10_000, "add": 3})]
        third = await fetch_rows(conn, made.upsert, {"id": 10_000, "add": 2})
        assert (first, second, third) == ([(5,)], [(8,)], [(10,)])


async def test_sqlite_reads_take_the_driver_path_and_errors_stay_typed(
    scratch_db: Database,
) -> None:
    async with scratch_tables(scratch_db) as made:
        async with scratch_db.write() as tx:
            conn = tx.conn
            if scratch_db.dialect == "sqlite":
                for statement, params in (
                    (made.by_ids, {"ids": [1, 2]}),
                    (made.by_pairs, {"owners": ["a"], "pairs": [("a", 1)]}),
                    (made.sums, {"owners": ["a"], "after": 0, "special": "a"}),
                    (made.upsert, {"id": 1, "add": 1}),
                ):
                    assert _read_plan(conn.dialect, statement, params) is not None
            row = {"id": 1, "owner": "x", "at": T0, "flag": False, "big": 1}
            assert await fetch_rows(conn, made.plain_insert, row) == [(1,)]
        with pytest.raises(sqlalchemy.exc.IntegrityError):
            async with scratch_db.write() as tx:
                await fetch_rows(tx.conn, made.plain_insert, row)
        # The failed transaction rolled back and the connection still works.
        async with scratch_db.write() as tx:
            assert await fetch_rows(tx.conn, made.by_ids, {"ids": [1]}) != []


async def test_a_locked_sqlite_database_raises_the_typed_error(tmp_path: Any) -> None:
    """BEGIN goes straight to the driver; when another process holds the write lock past the
    busy timeout, the error is still SQLAlchemy's OperationalError, not sqlite3's."""
    path = tmp_path / "locked.db"
    db = Database(f"sqlite:///{path}")
    try:
        async with db.write() as tx:  # opens the writer connection
            await tx.conn.exec_driver_sql("PRAGMA busy_timeout=50")
        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        try:
            with pytest.raises(sqlalchemy.exc.OperationalError, match="locked"):
                async with db.write():
                    pass
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        async with db.write() as tx:  # and the next write works
            assert (await tx.conn.exec_driver_sql("SELECT 1")).scalar() == 1
    finally:
        await db.dispose()
