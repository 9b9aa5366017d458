"""Migrations: a fresh database migrates to head; an older binary refuses a newer database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from courtyard.app import create_app
from courtyard.core.db import Database, metadata
from courtyard.core.errors import SchemaTooNew
from courtyard.core.migrate import (
    SchemaOutOfDate,
    alembic_config,
    current_revision,
    ensure_schema,
)
from courtyard.testing import scratch_postgres
from tests.conftest import POSTGRES_URL, base_settings


def heads() -> set[str]:
    from alembic.script import ScriptDirectory

    return set(ScriptDirectory.from_config(alembic_config()).get_heads())


@pytest.fixture
async def empty_database_url(backend: str, tmp_path: Path) -> AsyncIterator[str]:
    """A database with nothing in it, on the backend under test."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path}/empty.db"
        return
    async with scratch_postgres(POSTGRES_URL, "courtyard_migrate") as url:
        yield url


async def table_names(db: Database) -> set[str]:
    def names(conn: Connection) -> set[str]:
        return set(inspect(conn).get_table_names())

    return await db.run_read(names)


async def test_a_fresh_database_migrates_to_head(empty_database_url: str) -> None:
    db = Database(empty_database_url)
    try:
        assert await current_revision(db) == []
        await ensure_schema(db)
        assert set(await current_revision(db)) == heads()
        tables = await table_names(db)
        assert {t.name for t in metadata.sorted_tables} <= tables
        assert "alembic_version" in tables
        # Running it again changes nothing.
        await ensure_schema(db)
        assert set(await current_revision(db)) == heads()
    finally:
        await db.dispose()


async def test_without_automatic_migration_an_old_database_is_refused(
    empty_database_url: str,
) -> None:
    db = Database(empty_database_url)
    try:
        with pytest.raises(SchemaOutOfDate, match="courtyard migrate"):
            await ensure_schema(db, migrate=False)
        assert await current_revision(db) == []
        await ensure_schema(db, migrate=True)
        await ensure_schema(db, migrate=False)  # up to date: fine
    finally:
        await db.dispose()


async def stamp_future(db: Database, *, replace: bool) -> None:
    def stamp(conn: Connection) -> None:
        if replace:
            conn.execute(text("UPDATE alembic_version SET version_num = '9999_from_the_future'"))
        else:
            conn.execute(text("INSERT INTO alembic_version VALUES ('9999_from_the_future')"))

    await db.run_in_transaction(stamp)


@pytest.mark.parametrize("replace", [False, True])
async def test_an_older_binary_refuses_a_newer_database(
    empty_database_url: str, replace: bool
) -> None:
    db = Database(empty_database_url)
    try:
        await ensure_schema(db)
        await stamp_future(db, replace=replace)
        with pytest.raises(SchemaTooNew) as err:
            await ensure_schema(db)
        assert err.value.details["database_revisions"] == ["9999_from_the_future"]
        assert set(err.value.details["binary_heads"]) == heads()
        assert "Upgrade Courtyard" in err.value.message
        # Nothing was changed by the refusal.
        assert "9999_from_the_future" in await current_revision(db)
    finally:
        await db.dispose()


async def test_the_server_does_not_start_on_a_newer_database(
    empty_database_url: str, tmp_path: Path
) -> None:
    db = Database(empty_database_url)
    try:
        await ensure_schema(db)
        await stamp_future(db, replace=False)
    finally:
        await db.dispose()
    app = create_app(base_settings(empty_database_url, tmp_path / "data"))
    with pytest.raises(SchemaTooNew):
        async with app.router.lifespan_context(app):
            pass
