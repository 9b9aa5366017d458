"""Moving from SQLite to PostgreSQL keeps every record, and the moved server works."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from courtyard.app import create_app
from courtyard.client import CourtyardClient
from courtyard.core.clock import FakeClock
from courtyard.core.db import Database, metadata
from courtyard.core.errors import Conflict
from courtyard.core.port import port_database
from courtyard.testing import scratch_postgres
from tests.conftest import PASSWORD, POSTGRES_URL, UserFactory, base_settings

pytestmark = pytest.mark.skipif(not POSTGRES_URL, reason="needs COURTYARD_TEST_POSTGRES_URL")


@pytest.fixture
async def empty_postgres() -> AsyncIterator[str]:
    async with scratch_postgres(POSTGRES_URL, "courtyard_port") as url:
        yield url


async def _counts(url: str) -> dict[str, int]:
    db = Database(url)
    try:
        async with db.read() as conn:
            return {
                t.name: int((await conn.execute(select(func.count()).select_from(t))).scalar_one())
                for t in metadata.sorted_tables
            }
    finally:
        await db.dispose()


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_port_sqlite_to_postgres_keeps_everything(
    make_user: UserFactory,
    settings_path: Path,
    empty_postgres: str,
    clock: FakeClock,
    tmp_path: Path,
) -> None:
    alice = await make_user("alice")
    await make_user("bob")
    await alice.update_profile(bio="moving house")
    source_url = f"sqlite:///{settings_path}"

    report = await port_database(source_url, empty_postgres)

    source_counts = await _counts(source_url)
    assert report.tables == source_counts
    assert await _counts(empty_postgres) == source_counts
    assert source_counts["accounts"] == 2

    # The ported server logs alice in with her old password and shows her profile.
    moved = create_app(base_settings(empty_postgres, tmp_path / "moved"), clock=clock)
    async with moved.router.lifespan_context(moved):
        client = CourtyardClient(
            "http://testserver", transport=httpx.ASGITransport(app=moved, client=("203.0.113.9", 1))
        )
        await client.login("alice", PASSWORD)
        assert (await client.me())["bio"] == "moving house"
        await client.aclose()

    # Porting into a database that already has data is refused, not merged.
    with pytest.raises(Conflict) as err:
        await port_database(source_url, empty_postgres)
    assert err.value.code == "target_not_empty"


@pytest.fixture
def settings_path(database_url: str) -> Path:
    return Path(database_url.split("///", 1)[1])
