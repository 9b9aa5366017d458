"""Database access: one async engine, explicit transactions, after-commit hooks.

SQLite (WAL) is the embedded default and PostgreSQL serves many nodes; dialect differences
live here behind named helpers. A service owns one transaction per use case (``db.write()``);
store functions receive the connection and never commit. Work registered with
``Tx.after_commit`` (events, cache invalidation) runs only once the commit has succeeded.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import JSON, DateTime, MetaData, event
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.types import TypeDecorator

log = logging.getLogger(__name__)

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


class Tx:
    """A write transaction: the connection plus work to run after a successful commit."""

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn
        self._after_commit: list[AfterCommit] = []

    def after_commit(self, fn: AfterCommit) -> None:
        self._after_commit.append(fn)

    async def _run_after_commit(self) -> None:
        for fn in self._after_commit:
            try:
                await fn()
            except Exception:  # a failed notification must not undo a committed write
                log.exception("after-commit hook failed")


class Database:
    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            _ensure_sqlite_directory(url)
            self.engine: AsyncEngine = create_async_engine(url, echo=echo)
            _configure_sqlite(self.engine)
        else:
            self.engine = create_async_engine(url, echo=echo, pool_size=10, max_overflow=20)
        # SQLite allows one writer; serialising writers in-process avoids busy-waiting.
        self._write_lock = asyncio.Lock() if self.is_sqlite else None

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        async with self.engine.connect() as conn:
            yield conn

    @asynccontextmanager
    async def write(self) -> AsyncIterator[Tx]:
        if self._write_lock is not None:
            await self._write_lock.acquire()
        try:
            async with self.engine.connect() as conn:
                if self.is_sqlite:
                    await conn.execution_options(courtyard_write=True)
                tx = Tx(conn)
                async with conn.begin():
                    yield tx
        finally:
            if self._write_lock is not None:
                self._write_lock.release()
        await tx._run_after_commit()

    async def dispose(self) -> None:
        await self.engine.dispose()


def _ensure_sqlite_directory(url: str) -> None:
    path = url.split("///", 1)[-1] if "///" in url else ""
    if path and path != ":memory:" and not path.startswith("file:"):
        Path(path).expanduser().parent.mkdir(parents=True, exist_ok=True)


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take over transaction control from the driver so BEGIN is explicit and predictable.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Writers take the lock up front; readers stay deferred so they never wait on a writer.
        immediate = conn.get_execution_options().get("courtyard_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def is_unique_violation(exc: BaseException) -> bool:
    """True when a database error is a unique-constraint violation, on either backend."""
    text = str(getattr(exc, "orig", exc)).lower()
    return "unique" in text or "duplicate key" in text
