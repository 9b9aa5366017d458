"""SQLite's log reaches the database file through the checkpointer's thread, never through a
commit: a commit on the loop's thread must not stall it copying pages (core/walcheckpoint.py)."""

from __future__ import annotations

import shutil
import sqlite3
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Connection

from courtyard.core.db import Database
from courtyard.core.walcheckpoint import WalCheckpointer


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'wal.db'}")

    def create(conn: Connection) -> None:
        conn.exec_driver_sql("CREATE TABLE notes (id INTEGER PRIMARY KEY, body BLOB NOT NULL)")

    await database.run_in_transaction(create)
    try:
        yield database
    finally:
        await database.dispose()


async def write_notes(db: Database, count: int, size: int, *, inline: bool, first: int = 0) -> None:
    for start in range(first, first + count, 10):
        async with db.write(commit_inline=inline) as tx:
            for n in range(start, min(first + count, start + 10)):
                await tx.conn.execute(
                    text("INSERT INTO notes (id, body) VALUES (:id, :body)"),
                    {"id": n, "body": bytes([n % 256]) * size},
                )


def notes_in_file_alone(path: Path, scratch: Path) -> int:
    """Rows in the database file without its log: what checkpoints have copied there."""
    copy = scratch / "copy.db"
    shutil.copyfile(path, copy)
    conn = sqlite3.connect(copy)
    try:
        tables = conn.execute("SELECT name FROM sqlite_master WHERE name = 'notes'").fetchall()
        return conn.execute("SELECT count(*) FROM notes").fetchone()[0] if tables else 0
    finally:
        conn.close()


def checkpointer_threads() -> int:
    return sum(t.name == "courtyard-wal-checkpoint" for t in threading.enumerate())


async def test_the_checkpointer_copies_what_commits_leave_in_the_log(
    db: Database, tmp_path: Path
) -> None:
    await write_notes(db, 100, 100, inline=True)
    await write_notes(db, 100, 100, inline=False, first=100)
    checkpointer = db.checkpointer
    assert checkpointer is not None
    assert checkpointer.wait_for_checkpoint(timeout=10)
    assert notes_in_file_alone(tmp_path / "wal.db", tmp_path) == 200


async def test_commits_never_checkpoint_themselves(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the checkpointer's thread kept from running, 6 MiB of commits (1,500 pages, past
    SQLite's default of a checkpoint at 1,000) all stay in the log."""
    started = db.checkpointer  # by the fixture's CREATE TABLE
    assert started is not None
    started.stop()
    monkeypatch.setattr(WalCheckpointer, "poke", lambda self: None)
    async with db.read() as conn:
        limit = (await conn.exec_driver_sql("PRAGMA wal_autocheckpoint")).scalar()
    assert limit == 0
    await write_notes(db, 300, 20_000, inline=True)
    assert (tmp_path / "wal.db-wal").stat().st_size > 6_000_000
    assert notes_in_file_alone(tmp_path / "wal.db", tmp_path) == 0
    async with db.read() as conn:  # and nothing is lost: readers see the log
        assert (await conn.exec_driver_sql("SELECT count(*) FROM notes")).scalar() == 300


async def test_dispose_stops_the_thread_and_leaves_everything_in_the_file(
    tmp_path: Path,
) -> None:
    before = checkpointer_threads()
    database = Database(f"sqlite:///{tmp_path / 'wal.db'}")

    def create(conn: Connection) -> None:
        conn.exec_driver_sql("CREATE TABLE notes (id INTEGER PRIMARY KEY, body BLOB NOT NULL)")

    await database.run_in_transaction(create)
    await write_notes(database, 50, 1_000, inline=True)
    assert checkpointer_threads() == before + 1
    await database.dispose()
    assert checkpointer_threads() == before
    assert database.checkpointer is None
    # The last connection to close checkpoints the rest.
    assert notes_in_file_alone(tmp_path / "wal.db", tmp_path) == 50


async def test_a_commit_stands_when_its_checkpoint_cannot_be_asked_for(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_thread(self: WalCheckpointer) -> None:
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr(WalCheckpointer, "poke", no_thread)
    await write_notes(db, 10, 10, inline=True)
    await write_notes(db, 10, 10, inline=False, first=10)
    async with db.read() as conn:
        assert (await conn.exec_driver_sql("SELECT count(*) FROM notes")).scalar() == 20


def test_an_idle_checkpointer_does_not_run() -> None:
    """It waits for a commit to ask, rather than polling an idle database."""
    checkpointer = WalCheckpointer(":memory:", interval=0.01)
    try:
        checkpointer.poke()
        assert checkpointer.wait_for_checkpoint(timeout=10)
        done = checkpointer.checkpoints
        time.sleep(0.2)  # twenty intervals
        assert checkpointer.checkpoints == done
    finally:
        checkpointer.stop()
