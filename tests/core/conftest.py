"""Fixtures for the core tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from courtyard.core.db import Database
from tests.conftest import BACKENDS


@pytest.fixture(params=BACKENDS)
async def scratch_db(request: pytest.FixtureRequest, tmp_path: Any) -> AsyncIterator[Database]:
    """A bare ``Database`` on each backend (no migrations): for tests that make their own
    tables, such as the hot-path helpers compared with ``execute``."""
    url = (
        f"sqlite:///{tmp_path / 'scratch.db'}"
        if request.param == "sqlite"
        else str(request.getfixturevalue("postgres_database"))
    )
    database = Database(url)
    yield database
    await database.dispose()
