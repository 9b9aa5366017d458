"""Test harness: every scenario runs on SQLite, and on PostgreSQL when CI asks for it.

Environment:
- COURTYARD_TEST_POSTGRES_URL: an asyncpg URL to a server we may create databases on.
- COURTYARD_TEST_REQUIRE_POSTGRES=1 / COURTYARD_TEST_REQUIRE_REDIS=1 /
  COURTYARD_TEST_REQUIRE_BROWSER=1: a missing backend or browser fails the run instead of
  being skipped (CI sets these, so nothing is silently left out).
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from courtyard.app import create_app
from courtyard.client import CourtyardClient
from courtyard.container import Services
from courtyard.core.clock import FakeClock
from courtyard.core.config import Environment, Settings
from courtyard.core.db import Database, metadata
from courtyard.core.migrate import ensure_schema
from courtyard.testing import create_scratch_database, drop_scratch_database

POSTGRES_URL = os.environ.get("COURTYARD_TEST_POSTGRES_URL", "")
REDIS_URL = os.environ.get("COURTYARD_TEST_REDIS_URL", "")


def run_blocking(coro_fn: Callable[[], Awaitable[object]]) -> object:
    """Run a coroutine to completion on a fresh loop in a worker thread.

    Session fixtures are set up lazily from inside async tests, where the test's own loop is
    already running; a thread keeps the two loops apart.
    """
    result: list[object] = []
    errors: list[BaseException] = []

    def target() -> None:
        try:
            result.append(asyncio.run(coro_fn()))  # type: ignore[arg-type]
        except BaseException as exc:
            errors.append(exc)

    import threading

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
    return result[0] if result else None


def _required(name: str) -> bool:
    return os.environ.get(f"COURTYARD_TEST_REQUIRE_{name}", "") in {"1", "true", "yes"}


def pytest_configure(config: pytest.Config) -> None:
    if _required("POSTGRES") and not POSTGRES_URL:
        raise pytest.UsageError(
            "COURTYARD_TEST_REQUIRE_POSTGRES is set but COURTYARD_TEST_POSTGRES_URL is not"
        )
    if _required("REDIS") and not REDIS_URL:
        raise pytest.UsageError(
            "COURTYARD_TEST_REQUIRE_REDIS is set but COURTYARD_TEST_REDIS_URL is not"
        )


BACKENDS = ["sqlite"] + (["postgresql"] if POSTGRES_URL else [])


def base_settings(database_url: str, data_dir: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "env": Environment.TEST,
        "secret_key": "test-secret-key-that-is-long-enough-0123456789",
        "database_url": database_url,
        "data_dir": data_dir,
        # Cheap hashing keeps the suite fast; production defaults are tested in accounts.
        "argon2_time_cost": 1,
        "argon2_memory_cost_kib": 64,
        "argon2_parallelism": 1,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


# ---- databases -----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite file, copied for each test (migrating per test would be slow)."""
    path = tmp_path_factory.mktemp("template") / "template.db"

    async def build() -> None:
        db = Database(f"sqlite:///{path}")
        await ensure_schema(db)
        await db.dispose()

    run_blocking(build)
    assert path.exists()
    return path


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, migrated once, dropped at the end."""
    if not POSTGRES_URL:
        pytest.skip("PostgreSQL not configured (set COURTYARD_TEST_POSTGRES_URL)")

    async def create() -> str:
        url = await create_scratch_database(POSTGRES_URL, "courtyard_test")
        db = Database(url)
        await ensure_schema(db)
        await db.dispose()
        return url

    url = run_blocking(create)
    assert isinstance(url, str)
    yield url
    run_blocking(lambda: drop_scratch_database(POSTGRES_URL, url))


async def _truncate_postgres(url: str) -> None:
    engine = create_async_engine(url)
    names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
    async with engine.begin() as conn:
        await conn.execute(text(f"TRUNCATE {names} CASCADE"))
    await engine.dispose()


@pytest.fixture
def redis_url() -> str:
    """The test Redis; skipped when not configured, a failure when CI requires it."""
    if not REDIS_URL:
        if _required("REDIS"):
            pytest.fail("COURTYARD_TEST_REQUIRE_REDIS is set but COURTYARD_TEST_REDIS_URL is not")
        pytest.skip("Redis not configured (set COURTYARD_TEST_REDIS_URL)")
    return REDIS_URL


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def database_url(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[str]:
    if backend == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path / "courtyard.db"
        shutil.copyfile(template, path)
        yield f"sqlite:///{path}"
    else:
        url: str = request.getfixturevalue("postgres_database")
        await _truncate_postgres(url)
        yield url


# ---- the application -----------------------------------------------------------------------


@pytest.fixture
def clock() -> FakeClock:
    now = datetime.now(UTC).replace(microsecond=0)
    return FakeClock(now)


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    """Override in a test module to change settings for its tests."""
    return {}


@pytest.fixture
def settings(database_url: str, tmp_path: Path, settings_overrides: dict[str, object]) -> Settings:
    return base_settings(database_url, tmp_path / "data", **settings_overrides)


@pytest.fixture
async def app(settings: Settings, clock: FakeClock) -> AsyncIterator[FastAPI]:
    application = create_app(settings, clock=clock)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
def services(app: FastAPI) -> Services:
    result: Services = app.state.services
    return result


ClientFactory = Callable[..., CourtyardClient]


@pytest.fixture
async def make_client(app: FastAPI) -> AsyncIterator[ClientFactory]:
    """Clients that talk to the app in-process over ASGI, each from its own address."""
    clients: list[CourtyardClient] = []

    def factory(ip: str = "203.0.113.10") -> CourtyardClient:
        transport = httpx.ASGITransport(app=app, client=(ip, 50000))
        client = CourtyardClient("http://testserver", transport=transport)
        clients.append(client)
        return client

    yield factory
    for client in clients:
        await client.aclose()


PASSWORD = "correct horse battery staple"

UserFactory = Callable[..., Awaitable[CourtyardClient]]


@pytest.fixture
def make_user(make_client: ClientFactory) -> UserFactory:
    """A registered, logged-in client; ``client.account`` holds the account."""

    async def factory(handle: str, *, display_name: str | None = None) -> CourtyardClient:
        client = make_client()
        result = await client.register(handle, PASSWORD, display_name=display_name)
        client.account = result["account"]  # type: ignore[attr-defined]
        return client

    return factory
