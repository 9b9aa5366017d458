"""Copy a whole Courtyard database from one backend to another (SQLite → PostgreSQL).

An operator who outgrows one machine moves to PostgreSQL without losing anything: the target
is migrated to the same schema revision, must be empty, and receives every table in
foreign-key order in one transaction, so a failed port leaves the target untouched.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, func, insert, select, tuple_

import courtyard.tables  # noqa: F401  (registers every table on the metadata)
from courtyard.core.db import Conn, Database, metadata
from courtyard.core.errors import Conflict
from courtyard.core.migrate import current_revision, ensure_schema

BATCH = 1000


@dataclass(frozen=True, slots=True)
class PortReport:
    tables: dict[str, int]

    @property
    def rows(self) -> int:
        return sum(self.tables.values())


async def _count(conn: Conn, table: Table) -> int:
    return int((await conn.execute(select(func.count()).select_from(table))).scalar_one())


async def _batches(source: Database, table: Table) -> Any:
    """Rows in primary-key order, a batch at a time (keyset pagination, no OFFSET)."""
    pk = list(table.primary_key.columns)
    last: tuple[Any, ...] | None = None
    while True:
        query = select(table).order_by(*pk).limit(BATCH)
        if last is not None:
            query = query.where(tuple_(*pk) > tuple_(*last))
        async with source.read() as conn:
            rows = [dict(row._mapping) for row in await conn.execute(query)]
        if not rows:
            return
        yield rows
        last = tuple(rows[-1][c.name] for c in pk)


async def port_database(source_url: str, target_url: str) -> PortReport:
    source = Database(source_url)
    target = Database(target_url)
    try:
        await ensure_schema(source, migrate=False)
        await ensure_schema(target, migrate=True)
        if await current_revision(source) != await current_revision(target):
            raise Conflict("Source and target are at different schema revisions.")
        async with target.read() as conn:
            for table in metadata.sorted_tables:
                if await _count(conn, table):
                    raise Conflict(
                        f"The target database is not empty (table {table.name} has rows).",
                        code="target_not_empty",
                    )
        copied: dict[str, int] = {}
        async with target.write() as tx:
            for table in metadata.sorted_tables:
                copied[table.name] = 0
                async for rows in _batches(source, table):
                    await tx.conn.execute(insert(table), rows)
                    copied[table.name] += len(rows)
        return PortReport(copied)
    finally:
        await source.dispose()
        await target.dispose()
