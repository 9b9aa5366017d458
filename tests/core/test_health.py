"""Liveness and readiness endpoints, on each database and with Redis when configured."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from courtyard.app import create_app
from courtyard.core.bus import RedisBus
from tests.conftest import ClientFactory, base_settings


async def test_healthz_answers(make_client: ClientFactory) -> None:
    assert await make_client().health() == {"status": "ok"}


async def test_readyz_reports_the_database(make_client: ClientFactory) -> None:
    ready = await make_client().ready()
    assert ready == {"status": "ok", "checks": {"database": "ok"}}


async def test_readyz_is_503_when_the_database_is_gone(
    app: FastAPI, make_client: ClientFactory
) -> None:
    await app.state.services.db.dispose()
    # A database that cannot be reached: swap in one pointing nowhere.
    from courtyard.core.db import Database

    app.state.services.db = Database("postgresql+asyncpg://nobody@127.0.0.1:1/none")
    response = await make_client().http.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"].startswith("error")


async def ready_app(
    database_url: str, data_dir: Path, redis_url: str
) -> tuple[int, dict[str, object]]:
    app = create_app(base_settings(database_url, data_dir, redis_url=redis_url))
    async with app.router.lifespan_context(app):
        assert isinstance(app.state.services.bus, RedisBus)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            response = await client.get("/readyz")
    return response.status_code, response.json()


async def test_readyz_reports_redis_when_the_bus_is_redis(
    database_url: str, tmp_path: Path, redis_url: str
) -> None:
    status, body = await ready_app(database_url, tmp_path / "data", redis_url)
    assert status == 200
    assert body == {"status": "ok", "checks": {"database": "ok", "redis": "ok"}}


async def test_readyz_is_503_when_redis_does_not_answer(
    database_url: str, tmp_path: Path, redis_url: str
) -> None:
    status, body = await ready_app(database_url, tmp_path / "data", "redis://127.0.0.1:1/0")
    assert status == 503
    checks = body["checks"]
    assert isinstance(checks, dict)
    assert checks["database"] == "ok"
    assert str(checks["redis"]).startswith("error")


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
async def test_health_endpoints_need_no_login(make_client: ClientFactory, path: str) -> None:
    response = await make_client().http.get(path)
    assert response.status_code == 200
