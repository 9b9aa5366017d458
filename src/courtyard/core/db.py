"""Database access: one async engine, explicit transactions, after-commit hooks.

SQLite (WAL) is the embedded default and PostgreSQL serves many nodes; dialect differences
live here behind named helpers. A service owns one transaction per use case (``db.write()``);
store functions receive the connection and never commit. Work registered with
``Tx.after_commit`` (events, cache invalidation) runs only once the commit has succeeded.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar, cast

from sqlalchemy import JSON, DateTime, MetaData, Table, create_engine, event, insert, select, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, CursorResult, Dialect, Engine
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.sql.dml import Insert
from sqlalchemy.sql.expression import Executable
from sqlalchemy.types import TypeDecorator

from courtyard.core import json
from courtyard.core.walcheckpoint import WalCheckpointer

log = logging.getLogger(__name__)

T = TypeVar("T")

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC on every backend (SQLite would otherwise hand back naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; use the injected clock")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


# JSON documents: JSONB on PostgreSQL, JSON text on SQLite.
JSONDocument = JSON().with_variant(JSONB(), "postgresql")

AfterCommit = Callable[[], Awaitable[None]]


class Conn(Protocol):
    """The connection a store function receives: awaitable ``execute`` on either backend."""

    @property
    def dialect(self) -> Dialect: ...

    async def execute(self, statement: Executable, parameters: Any = None) -> CursorResult[Any]: ...

    async def exec_driver_sql(self, statement: str, parameters: Any = None) -> Any: ...


class LoopConnection:
    """A SQLite connection used directly on the event-loop thread.

    SQLite answers an indexed query in tens of microseconds, while handing each call to a
    driver thread (aiosqlite) costs several thread switches: measured here ~90 µs per
    checkout + query on the loop against ~1,200 µs through aiosqlite. So the embedded backend
    runs statements inline and exposes the same awaitable interface as asyncpg's connection.
    """

    def __init__(self, conn: Connection) -> None:
        self.sync_connection = conn

    @property
    def dialect(self) -> Dialect:
        return self.sync_connection.dialect

    async def execute(self, statement: Executable, parameters: Any = None) -> CursorResult[Any]:
        return self.sync_connection.execute(statement, parameters)

    async def exec_driver_sql(self, statement: str, parameters: Any = None) -> Any:
        return self.sync_connection.exec_driver_sql(statement, parameters)

    async def run_sync(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return fn(self.sync_connection, *args, **kwargs)

    # The driver itself, for the few statements every chat batch runs (``fetch_rows``,
    # ``execute_many``): SQLAlchemy's execution context, events and result object cost three
    # to four times what SQLite does for an indexed read (bench/chat_write.py). Only inside a
    # transaction SQLAlchemy began, so the statement is part of it; errors come out wrapped as
    # ``execute`` would wrap them.

    def in_transaction(self) -> bool:
        return self.sync_connection.in_transaction()

    def driver_fetch(self, sql: str, values: Sequence[Any]) -> list[Any]:
        cursor = self.sync_connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(sql, values)
            rows: list[Any] = cursor.fetchall()
            return rows
        except sqlite3.Error as exc:
            raise DBAPIError.instance(sql, values, exc, sqlite3.Error) from exc
        finally:
            cursor.close()

    def driver_executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        cursor = self.sync_connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.executemany(sql, rows)
        except sqlite3.Error as exc:
            raise DBAPIError.instance(sql, rows, exc, sqlite3.Error) from exc
        finally:
            cursor.close()


class Tx:
    """A write transaction: the connection plus work to run after a successful commit."""

    def __init__(self, conn: Conn) -> None:
        self.conn = conn
        self._after_commit: list[AfterCommit] = []
        self._before_commit: list[AfterCommit] = []
        # Per-transaction state for services (the audit entries waiting for the commit).
        self.pending: dict[str, list[Any]] = {}

    def after_commit(self, fn: AfterCommit) -> None:
        self._after_commit.append(fn)

    def before_commit(self, fn: AfterCommit) -> None:
        """Run ``fn`` as the transaction's last statements; if it fails, nothing commits."""
        self._before_commit.append(fn)

    async def _run_before_commit(self) -> None:
        for fn in self._before_commit:
            await fn()

    async def _run_after_commit(self) -> None:
        for fn in self._after_commit:
            try:
                await fn()
            except Exception:  # a failed notification must not undo a committed write
                log.exception("after-commit hook failed")


class Database:
    """SQLite on the loop thread (one writer at a time) or PostgreSQL through asyncpg."""

    def __init__(self, url: str, *, echo: bool = False, sqlite_synchronous: str = "FULL") -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self._sync_engine: Engine | None = None
        self._async_engine: AsyncEngine | None = None
        # SQLite: commits never checkpoint the log; a thread does (core/walcheckpoint.py).
        # Made on the first write of a database file.
        self._checkpointer: WalCheckpointer | None = None
        if self.is_sqlite:
            _ensure_sqlite_directory(url)
            sync_url = url.replace("sqlite+aiosqlite://", "sqlite://", 1)
            self._sync_engine = create_engine(
                sync_url,
                echo=echo,
                pool_size=32,
                max_overflow=0,
                pool_timeout=30,
                json_serializer=json.dumps_str,
                json_deserializer=json.loads,
            )
            _configure_sqlite(self._sync_engine, sqlite_synchronous)
        else:
            self._async_engine = create_async_engine(
                url,
                echo=echo,
                pool_size=10,
                max_overflow=20,
                json_serializer=json.dumps_str,
                json_deserializer=json.loads,
            )
        # SQLite allows one writer; serialising writers in-process avoids busy-waiting.
        self._write_lock = asyncio.Lock() if self.is_sqlite else None
        # SQLite: the one connection every write transaction uses. A connection's page cache
        # and prepared statements survive between its own transactions, but any write by
        # another connection empties its cache: taking the next pooled connection for each
        # write (the pool rotates) re-read every B-tree page a batch touches.
        self._writer: Connection | None = None

    @property
    def dialect(self) -> str:
        engine = self._sync_engine or self._async_engine
        assert engine is not None
        return engine.dialect.name

    @asynccontextmanager
    async def read(self) -> AsyncIterator[Conn]:
        if self._sync_engine is not None:
            with self._sync_engine.connect() as sync_conn:
                yield LoopConnection(sync_conn)
        else:
            assert self._async_engine is not None
            async with self._async_engine.connect() as conn:
                yield conn

    @asynccontextmanager
    async def write(self, *, commit_inline: bool = False) -> AsyncIterator[Tx]:
        """One write transaction. ``commit_inline`` (SQLite) commits on the loop's thread:
        for a writer with more work queued behind it (see ``ChatsService._write_sends``)."""
        if self._sync_engine is not None:
            assert self._write_lock is not None
            async with self._write_lock:
                sync_conn = self._writer
                if sync_conn is None or sync_conn.closed or sync_conn.invalidated:
                    sync_conn = self._sync_engine.connect().execution_options(courtyard_write=True)
                    self._writer = sync_conn
                tx = Tx(LoopConnection(sync_conn))
                transaction = sync_conn.begin()
                try:
                    yield tx
                    await tx._run_before_commit()
                except BaseException:
                    self._after_failure(sync_conn, transaction.rollback)
                    raise
                # The commit's fsync takes a fraction of a millisecond to milliseconds: wait
                # for it in a thread (sqlite3 releases the GIL) so the loop keeps serving
                # everyone else meanwhile; the write lock stays held until it is done. Under
                # load that costs more than it saves: the thread waits for the GIL to start
                # and to finish (the loop holds it), and its result waits for a loop turn that
                # is busy with the backlog, so a 2 ms commit was awaited for 30-50 ms
                # (measured with the chat benchmark at 1,500 messages/s), and the hand-off
                # cost a tenth of the server's CPU at 4,000. The chat writer commits inline
                # instead: with checkpoints in their own thread, a commit is the log append
                # and its fsync.
                try:
                    if commit_inline:
                        transaction.commit()
                    else:
                        await _uncancellable(asyncio.to_thread(transaction.commit))
                except BaseException:
                    self._after_failure(sync_conn, transaction.rollback)
                    raise
                self._checkpoint_soon()
        else:
            assert self._async_engine is not None
            async with self._async_engine.connect() as conn:
                tx = Tx(conn)
                async with conn.begin():
                    yield tx
                    await tx._run_before_commit()
        await tx._run_after_commit()

    def _checkpoint_soon(self) -> None:
        """Tell the checkpointer a commit happened. Never raises: the commit stands whatever
        becomes of its checkpoint (a later commit asks again)."""
        try:
            checkpointer = self._checkpointer
            if checkpointer is None:
                assert self._sync_engine is not None
                path = self._sync_engine.url.database
                if not path or path == ":memory:":  # no log to checkpoint
                    return
                checkpointer = self._checkpointer = WalCheckpointer(path)
            checkpointer.poke()
        except Exception:
            log.exception("could not ask for a WAL checkpoint")

    @property
    def checkpointer(self) -> WalCheckpointer | None:
        """SQLite's log checkpointer, once a write has started it (tests)."""
        return self._checkpointer

    def _after_failure(self, conn: Connection, rollback: Callable[[], None]) -> None:
        """Roll back a failed write; a writer connection that cannot even do that is closed
        and the next write opens a fresh one."""
        try:
            rollback()
        except Exception:
            log.warning("the writer connection could not roll back; replacing it")
            self._writer = None
            with contextlib.suppress(Exception):
                conn.invalidate()

    async def run_in_transaction(self, fn: Callable[[Connection], T]) -> T:
        """Run synchronous engine-level work (migrations) in one transaction."""
        if self._sync_engine is not None:
            with self._sync_engine.begin() as sync_conn:
                result = fn(sync_conn)
            self._checkpoint_soon()
            return result
        assert self._async_engine is not None
        async with self._async_engine.begin() as conn:
            return await conn.run_sync(fn)

    async def run_read(self, fn: Callable[[Connection], T]) -> T:
        if self._sync_engine is not None:
            with self._sync_engine.connect() as sync_conn:
                return fn(sync_conn)
        assert self._async_engine is not None
        async with self._async_engine.connect() as conn:
            return await conn.run_sync(fn)

    async def dispose(self) -> None:
        if self._checkpointer is not None:
            await asyncio.to_thread(self._checkpointer.stop)
            self._checkpointer = None
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self._sync_engine is not None:
            self._sync_engine.dispose()
        if self._async_engine is not None:
            await self._async_engine.dispose()


async def _uncancellable(work: Awaitable[T]) -> T:
    """Await ``work`` to the end even if the caller is cancelled meanwhile (then re-raise the
    cancellation): a commit running in a thread must finish before its connection is
    returned to the pool."""
    future = asyncio.ensure_future(work)
    cancelled = False
    while True:
        try:
            result = await asyncio.shield(future)
            break
        except asyncio.CancelledError:
            if future.done():
                raise
            cancelled = True
    if cancelled:
        raise asyncio.CancelledError
    return result


def _ensure_sqlite_directory(url: str) -> None:
    path = url.split("///", 1)[-1] if "///" in url else ""
    if path and path != ":memory:" and not path.startswith("file:"):
        Path(path).expanduser().parent.mkdir(parents=True, exist_ok=True)


def _configure_sqlite(engine: Engine, synchronous: str) -> None:
    if synchronous.upper() not in {"OFF", "NORMAL", "FULL", "EXTRA"}:
        raise ValueError(f"unknown SQLite synchronous mode {synchronous!r}")

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take over transaction control from the driver so BEGIN is explicit and predictable.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # FULL: a commit is on disk before it is acknowledged, even across a power cut.
        cursor.execute(f"PRAGMA synchronous={synchronous.upper()}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=5000")
        # Commits append to the log and never copy it into the database file themselves: a
        # WalCheckpointer thread does (core/walcheckpoint.py).
        cursor.execute("PRAGMA wal_autocheckpoint=0")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Writers take the lock up front; readers stay deferred so they never wait on a writer.
        # Straight to the driver: every transaction begins here, and SQLAlchemy's execution
        # machinery would cost more than SQLite's BEGIN itself.
        immediate = conn.get_execution_options().get("courtyard_write", False)
        statement = "BEGIN IMMEDIATE" if immediate else "BEGIN"
        try:
            conn.connection.driver_connection.execute(statement)
        except sqlite3.Error as exc:  # "database is locked": typed, as SQLAlchemy would
            raise DBAPIError.instance(statement, (), exc, sqlite3.Error) from exc


def is_unique_violation(exc: BaseException) -> bool:
    """True when a database error is a unique-constraint violation, on either backend."""
    text = str(getattr(exc, "orig", exc)).lower()
    return "unique" in text or "duplicate key" in text


def insert_ignoring_duplicates(conn: Conn, table: Table) -> Insert:
    """``INSERT ... ON CONFLICT DO NOTHING`` on either backend.

    For "create if missing" under concurrency: a check-then-insert lets two transactions both
    see nothing and then collide on the key (a 500); this statement lets one of them win.
    """
    if conn.dialect.name == "postgresql":
        return postgresql_insert(table).on_conflict_do_nothing()
    return sqlite_insert(table).on_conflict_do_nothing()


def padded(values: Sequence[T]) -> list[T]:
    """``values`` (not empty) repeated at the end to the next power of two, for an expanding
    ``IN``: a batch's lists vary in length and each length is a new SQL string for SQLite and
    PostgreSQL to prepare; padded, a statement has a handful of shapes whose prepared forms
    the drivers keep. Repeats change nothing in an ``IN``."""
    size = 1
    while size < len(values):
        size *= 2
    return [*values, *([values[-1]] * (size - len(values)))]


# ---- executemany without per-row statement machinery --------------------------------------


@dataclass(frozen=True, slots=True)
class _ManyPlan:
    sql: str
    keys: tuple[str, ...]  # the rows' keys in the order of the statement's positional marks
    processors: tuple[Callable[[Any], Any] | None, ...]


# Keyed by the statement itself (kept alive, so its identity is never reused).
_many_plans: dict[tuple[str, Executable, tuple[str, ...]], _ManyPlan | None] = {}


def _many_plan(dialect: Dialect, statement: Executable, keys: tuple[str, ...]) -> _ManyPlan | None:
    """The statement compiled once for these row keys, with its bind processors in order;
    None where the fast path would not do exactly what ``execute`` does (a named
    paramstyle, Python-side defaults to compute per row, expanding parameters)."""
    cache_key = (dialect.name, statement, keys)
    if cache_key in _many_plans:
        return _many_plans[cache_key]
    if len(_many_plans) > 256:  # statements built per call: not what this is for
        _many_plans.clear()
    compiled: Any = cast(Any, statement).compile(dialect=dialect, column_keys=list(keys))
    order = compiled.positiontup
    plan: _ManyPlan | None = None
    if (
        order is not None
        and not compiled.insert_prefetch
        and not compiled.update_prefetch
        and not compiled.literal_execute_params
        and not compiled.post_compile_params
        and set(order) <= set(keys)
    ):
        processors = compiled._bind_processors  # the dialect's own, as execute uses them
        plan = _ManyPlan(str(compiled), tuple(order), tuple(processors.get(name) for name in order))
    _many_plans[cache_key] = plan
    return plan


async def execute_many(conn: Conn, statement: Executable, rows: Sequence[dict[str, Any]]) -> None:
    """``conn.execute(statement, rows)`` for a batch of rows (an INSERT, an upsert, an UPDATE
    by bound parameters), without SQLAlchemy building an execution context per row.

    A chat batch writes hundreds of rows; per row, ``execute`` builds a parameter dict and
    runs every bind processor through its generic machinery, which cost more than SQLite's
    own inserts (bench/chat_write.py). Here the statement is compiled once per set of keys,
    and each row becomes a tuple through the same processors; a processed value is reused
    while consecutive rows hold the same object (a batch shares its timestamp). Statements
    the plan cannot reproduce exactly go through ``execute``. The statement must be a
    module-level object: plans are cached by it.
    """
    if not rows:
        return
    keys = tuple(rows[0])
    plan = _many_plan(conn.dialect, statement, keys)
    if plan is None:
        await conn.execute(statement, list(rows) if len(rows) > 1 else rows[0])
        return
    order, processors = plan.keys, plan.processors
    last_in: list[Any] = [_UNSET] * len(order)
    last_out: list[Any] = [None] * len(order)
    tuples: list[tuple[Any, ...]] = []
    for row in rows:
        if len(row) != len(keys):
            raise ValueError("execute_many: every row needs the same keys")
        values = []
        for index, name in enumerate(order):
            value = row[name]
            process = processors[index]
            if process is not None:  # None too: JSON stores None as 'null'
                if value is not last_in[index]:
                    last_in[index] = value
                    last_out[index] = process(value)
                value = last_out[index]
            values.append(value)
        tuples.append(tuple(values))
    if isinstance(conn, LoopConnection) and conn.in_transaction():
        conn.driver_executemany(plan.sql, tuples)
    else:
        await conn.exec_driver_sql(plan.sql, tuples)


# ---- hot reads as plain tuples ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _ReadPlan:
    sql: str
    order: tuple[str, ...]  # the parameters in the order of the statement's marks
    expanding: frozenset[str]  # those that are lists, flattened in place (tuples row-major)
    constants: dict[str, Any]  # values the statement carries itself (``coalesce(x, 0)``)
    processors: tuple[Callable[[Any], Any] | None, ...]  # per result column


_read_plans: dict[tuple[Executable, tuple[tuple[str, int], ...]], _ReadPlan | None] = {}


def _shape(params: dict[str, Any]) -> tuple[tuple[str, int], ...]:
    """The parameters' names and, for lists, their lengths: what the SQL string depends on."""
    return tuple(
        sorted(
            (name, len(value) if isinstance(value, list) else -1) for name, value in params.items()
        )
    )


def _flatten(plan: _ReadPlan, params: dict[str, Any]) -> list[Any]:
    values: list[Any] = []
    for name in plan.order:
        value = params[name] if name in params else plan.constants[name]
        if name not in plan.expanding:
            values.append(value)
        elif value and isinstance(value[0], tuple):
            for item in value:
                values.extend(item)
        else:
            values.extend(value)
    return values


def _read_plan(dialect: Dialect, statement: Executable, params: dict[str, Any]) -> _ReadPlan | None:
    """The statement compiled and expanded once for this shape of parameters; None where the
    driver path would not do exactly what ``execute`` does (bind processors to run, literal
    rendering, a parameter order it cannot reproduce). The check is made here, once: the
    flattened values must be exactly the ones SQLAlchemy's own expansion would bind."""
    key = (statement, _shape(params))
    if key in _read_plans:
        return _read_plans[key]
    if len(_read_plans) > 512:  # statements built per call: not what this is for
        _read_plans.clear()
    plan: _ReadPlan | None = None
    # As ``execute`` compiles it: an INSERT's columns are the parameters given.
    compiled: Any = cast(Any, statement).compile(dialect=dialect, column_keys=sorted(params))
    order = compiled.positiontup
    if order is not None and not compiled.literal_execute_params:
        try:
            expanded = compiled.construct_expanded_state(params)
        except SQLAlchemyError:  # a parameter missing: let ``execute`` report it
            _read_plans[key] = None
            return None
        constants = {
            name: value
            for name, value in compiled.construct_params(params).items()
            if name not in params
        }
        candidate = _ReadPlan(
            expanded.statement,
            tuple(order),
            frozenset(compiled.bind_names[p] for p in compiled.post_compile_params),
            constants,
            tuple(
                column.type._cached_result_processor(dialect, None)
                for column in compiled._result_columns
            ),
        )
        reference = [expanded.parameters[name] for name in expanded.positiontup]
        if _flatten(candidate, params) == reference and not any(
            expanded.processors.get(name) for name in expanded.positiontup
        ):
            plan = candidate
    _read_plans[key] = plan
    return plan


async def fetch_rows(
    conn: Conn, statement: Executable, params: dict[str, Any]
) -> list[tuple[Any, ...]]:
    """``execute(statement, params)``'s rows as plain tuples, in the order of its columns.

    For the reads every chat batch makes (client ids, send contexts, counters, stream ids): on
    SQLite they go straight to the driver with the SQL SQLAlchemy compiled and expanded once
    per shape of parameters, and the columns through the same result processors (datetimes,
    JSON, booleans). PostgreSQL, and anything the plan cannot reproduce exactly, go through
    ``execute``. The statement must be a module-level object: plans are cached by it.
    """
    if isinstance(conn, LoopConnection) and conn.in_transaction():
        plan = _read_plan(conn.dialect, statement, params)
        if plan is not None:
            rows = conn.driver_fetch(plan.sql, _flatten(plan, params))
            processors = plan.processors
            if not any(processors):
                return [tuple(row) for row in rows]
            return [
                tuple(
                    value if process is None else process(value)  # NULLs too, as Row does
                    for process, value in zip(processors, row, strict=True)
                )
                for row in rows
            ]
    result = await conn.execute(statement, params)
    return [tuple(row) for row in result]


_UNSET = object()


# Row helpers for tables keyed by a string ``id``, shared by the stores that keep plain rows
# (due process, Moments) instead of records.


def row_dict(row: Any) -> dict[str, Any]:
    return dict(row._mapping)


async def insert_row(conn: Conn, table: Table, values: dict[str, Any]) -> None:
    await conn.execute(insert(table).values(**values))


async def update_row(conn: Conn, table: Table, row_id: str, values: dict[str, Any]) -> None:
    await conn.execute(update(table).where(table.c.id == row_id).values(**values))


async def get_row(conn: Conn, table: Table, row_id: str) -> dict[str, Any] | None:
    row = (await conn.execute(select(table).where(table.c.id == row_id))).first()
    return row_dict(row) if row is not None else None
