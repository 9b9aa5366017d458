"""Alembic, driven from code: upgrade at start or with ``courtyard migrate``, and the schema
version check that makes an older binary refuse a database written by a newer one."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection

from courtyard.core.db import Database
from courtyard.core.errors import SchemaTooNew

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
_PG_MIGRATION_LOCK = 7_316_001  # advisory lock id: nodes starting together migrate one at a time


class SchemaOutOfDate(RuntimeError):
    """The database is older than this binary and automatic migration is off."""


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def _check_and_upgrade(conn: Connection, migrate: bool) -> None:
    cfg = alembic_config()
    script = ScriptDirectory.from_config(cfg)
    known = {rev.revision for rev in script.walk_revisions()}
    heads = set(script.get_heads())
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_MIGRATION_LOCK})
    current = set(MigrationContext.configure(conn).get_current_heads())
    unknown = current - known
    if unknown:
        raise SchemaTooNew(
            "The database was migrated by a newer Courtyard (revision "
            f"{', '.join(sorted(unknown))}); this binary knows up to {', '.join(sorted(heads))}. "
            "Upgrade Courtyard instead of downgrading the database.",
            details={"database_revisions": sorted(unknown), "binary_heads": sorted(heads)},
        )
    if current == heads:
        return
    if not migrate:
        raise SchemaOutOfDate(
            f"The database is at {sorted(current) or 'an empty schema'}; run `courtyard migrate`."
        )
    cfg.attributes["connection"] = conn
    command.upgrade(cfg, "head")


async def ensure_schema(db: Database, *, migrate: bool = True) -> None:
    await db.run_in_transaction(lambda conn: _check_and_upgrade(conn, migrate))


async def current_revision(db: Database) -> list[str]:
    def _heads(sync_conn: Connection) -> list[str]:
        return list(MigrationContext.configure(sync_conn).get_current_heads())

    return await db.run_read(_heads)


async def autogenerate_revision(message: str, rev_id: str | None = None) -> None:
    """Developer tool: write a new revision with the difference between the tables declared
    in the stores and the schema the existing revisions build (on a scratch SQLite file)."""
    import tempfile

    import courtyard.tables  # noqa: F401  (registers every table on the metadata)

    with tempfile.TemporaryDirectory() as scratch:
        db = Database(f"sqlite:///{scratch}/autogenerate.db")
        cfg = alembic_config()

        def run(conn: Connection) -> None:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
            command.revision(cfg, message=message, autogenerate=True, rev_id=rev_id)

        try:
            await db.run_in_transaction(run)
        finally:
            await db.dispose()


if __name__ == "__main__":
    import asyncio
    import sys

    if len(sys.argv) < 2:
        raise SystemExit('usage: python -m courtyard.core.migrate "what changed" [revision-id]')
    asyncio.run(autogenerate_revision(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None))
