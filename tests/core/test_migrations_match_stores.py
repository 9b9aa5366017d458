"""The migrations build exactly the tables the stores declare: no forgotten revision."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Connection

import courtyard.tables  # registers every table on the metadata
from courtyard.core.db import Database, metadata


async def test_migrated_schema_equals_declared_tables(database_url: str) -> None:
    # database_url is already migrated to head (SQLite template or PostgreSQL test database).
    db = Database(database_url)

    def diff(conn: Connection) -> list[Any]:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(context, metadata))

    try:
        differences = await db.run_read(diff)
    finally:
        await db.dispose()
    assert courtyard.tables.__all__
    assert differences == [], f"run `make migration MSG=...`: {differences}"
