"""The ``courtyard`` command: migrate, operator accounts, serve."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from courtyard.app import SERVER_GC_THRESHOLDS, create_app
from courtyard.cli import app as cli
from courtyard.client import ApiError, CourtyardClient
from courtyard.core.config import Settings
from courtyard.core.db import Database
from courtyard.core.migrate import current_revision, ensure_schema
from courtyard.testing import free_port
from tests.conftest import base_settings, run_blocking

STRONG = "operators keep the lights on 2026"
COURTYARD = Path(sys.executable).parent / "courtyard"


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for name in list(os.environ):
        if name.startswith("COURTYARD_"):
            monkeypatch.delenv(name)
    return {
        "COURTYARD_DATABASE_URL": f"sqlite:///{tmp_path}/cli.db",
        "COURTYARD_DATA_DIR": str(tmp_path / "data"),
        "COURTYARD_ARGON2_TIME_COST": "1",
        "COURTYARD_ARGON2_MEMORY_COST_KIB": "64",
        "COURTYARD_ARGON2_PARALLELISM": "1",
    }


def run(args: list[str], env: dict[str, str]) -> tuple[int, str]:
    result = CliRunner().invoke(cli, args, env=env)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def revision(url: str) -> list[str]:
    async def read() -> list[str]:
        db = Database(url)
        try:
            return await current_revision(db)
        finally:
            await db.dispose()

    value = run_blocking(read)
    assert isinstance(value, list)
    return value


def login(env: dict[str, str], handle: str, password: str) -> dict[str, object]:
    """Log in through the HTTP API of an app on the CLI's database."""

    async def go() -> dict[str, object]:
        settings = base_settings(env["COURTYARD_DATABASE_URL"], Path(env["COURTYARD_DATA_DIR"]))
        application = create_app(settings)
        async with application.router.lifespan_context(application):
            transport = httpx.ASGITransport(app=application)
            async with CourtyardClient("http://t", transport=transport) as client:
                await client.login(handle, password)
                return await client.me()

    value = run_blocking(go)
    assert isinstance(value, dict)
    return value


def test_migrate_brings_a_new_database_to_head(env: dict[str, str]) -> None:
    code, output = run(["migrate"], env)
    assert code == 0, output
    heads = revision(env["COURTYARD_DATABASE_URL"])
    assert heads
    assert f"Database is at revision {', '.join(heads)}." in output
    code, again = run(["migrate"], env)  # idempotent
    assert code == 0
    assert again == output


def test_migrate_refuses_a_database_from_a_newer_version(env: dict[str, str]) -> None:
    assert run(["migrate"], env)[0] == 0

    async def stamp() -> None:
        db = Database(env["COURTYARD_DATABASE_URL"])
        await db.run_in_transaction(
            lambda c: c.execute(text("INSERT INTO alembic_version VALUES ('9999_future')"))
        )
        await db.dispose()

    run_blocking(stamp)
    code, output = run(["migrate"], env)
    assert code == 1
    assert "newer Courtyard" in output
    assert "9999_future" in output


def test_admin_create_makes_an_operator_who_can_log_in(env: dict[str, str]) -> None:
    code, output = run(
        ["admin", "create", "opsadmin", "--role", "admin"],
        {**env, "COURTYARD_ADMIN_PASSWORD": STRONG},
    )
    assert code == 0, output
    assert "opsadmin" in output
    assert "admin" in output
    me = login(env, "opsadmin", STRONG)
    assert me["handle"] == "opsadmin"
    assert me["roles"] == ["admin"]


def test_admin_create_reviewer_and_granting_a_second_role(env: dict[str, str]) -> None:
    with_password = {**env, "COURTYARD_ADMIN_PASSWORD": STRONG}
    code, output = run(["admin", "create", "Rita_Review", "--role", "reviewer"], with_password)
    assert code == 0, output
    assert login(env, "rita_review", STRONG)["roles"] == ["reviewer"]
    code, output = run(["admin", "create", "rita_review", "--role", "admin"], with_password)
    assert code == 0, output
    assert login(env, "rita_review", STRONG)["roles"] == ["admin", "reviewer"]


def test_the_reserved_handle_admin_is_allowed_for_an_operator(env: dict[str, str]) -> None:
    code, output = run(["admin", "create", "admin"], {**env, "COURTYARD_ADMIN_PASSWORD": STRONG})
    assert code == 0, output
    assert login(env, "admin", STRONG)["roles"] == ["admin"]


@pytest.mark.parametrize("password", ["short", "password123", "opsadmin_opsadmin"])
def test_admin_create_refuses_a_weak_password(env: dict[str, str], password: str) -> None:
    code, output = run(
        ["admin", "create", "opsadmin"], {**env, "COURTYARD_ADMIN_PASSWORD": password}
    )
    assert code == 1
    assert "weak_password" in output
    with pytest.raises(ApiError):
        login(env, "opsadmin", password)


def test_admin_create_refuses_an_invalid_handle_and_an_unknown_role(env: dict[str, str]) -> None:
    with_password = {**env, "COURTYARD_ADMIN_PASSWORD": STRONG}
    code, output = run(["admin", "create", "ops admin"], with_password)
    assert code == 1
    assert "invalid_handle" in output
    code, output = run(["admin", "create", "opsadmin", "--role", "superuser"], with_password)
    assert code == 2
    assert "superuser" in output


def test_admin_create_without_a_password_and_no_terminal_says_what_to_do(
    env: dict[str, str],
) -> None:
    code, output = run(["admin", "create", "opsadmin"], env)
    assert code == 2
    assert "COURTYARD_ADMIN_PASSWORD" in output


def test_an_unsafe_production_configuration_is_refused_clearly(env: dict[str, str]) -> None:
    code, output = run(["migrate"], {**env, "COURTYARD_ENV": "production"})
    assert code == 2
    assert "COURTYARD_SECRET_KEY" in output
    code, output = run(["migrate"], {**env, "COURTYARD_PORT": "eighty"})
    assert code == 2
    assert "COURTYARD_PORT" in output


@pytest.fixture
def server(env: dict[str, str]) -> Iterator[tuple[subprocess.Popen[str], int]]:
    port = free_port()
    process = subprocess.Popen(  # noqa: S603 - our own entry point
        [str(COURTYARD), "serve", "--port", str(port)],
        env={**os.environ, **env, "COURTYARD_LOG_LEVEL": "warning"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield process, port
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        for stream in (process.stdout, process.stderr):
            if stream:
                stream.close()


def test_serve_prints_its_url_and_answers_there(
    server: tuple[subprocess.Popen[str], int],
) -> None:
    process, port = server
    assert process.stdout is not None
    line = process.stdout.readline()  # printed before the server starts
    match = re.search(r"open (http://\S+)", line)
    assert match, line
    url = match.group(1)
    assert url == f"http://localhost:{port}/"
    assert "SQLite" in line

    deadline = time.monotonic() + 30
    while True:
        try:
            response = httpx.get(f"{url}healthz", timeout=2)
            break
        except httpx.TransportError:
            if process.poll() is not None or time.monotonic() > deadline:
                stderr = process.stderr.read() if process.stderr else ""
                pytest.fail(f"the server did not come up: {stderr}")
            time.sleep(0.1)
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    ready = httpx.get(f"{url}readyz", timeout=5)
    assert ready.json()["checks"]["database"] == "ok"


def test_serve_refuses_an_unsafe_production_configuration(env: dict[str, str]) -> None:
    result = subprocess.run(  # noqa: S603
        [str(COURTYARD), "serve", "--port", str(free_port())],
        env={**os.environ, **env, "COURTYARD_ENV": "production"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "COURTYARD_SECRET_KEY" in result.stderr
    assert "Traceback" not in result.stderr


def test_migrated_database_is_what_the_server_expects(env: dict[str, str]) -> None:
    assert run(["migrate"], env)[0] == 0

    async def check() -> None:
        db = Database(env["COURTYARD_DATABASE_URL"])
        try:
            await ensure_schema(db, migrate=False)  # up to date: no migration needed
        finally:
            await db.dispose()

    run_blocking(check)


async def test_a_server_process_takes_its_start_up_objects_out_of_the_collector(
    settings: Settings,
) -> None:
    """``courtyard serve`` (and so every test server and benchmark) freezes what start-up
    built and raises the collector's thresholds; an app built in-process by the tests, in the
    test environment, leaves the collector alone (frozen objects are never freed)."""
    import gc

    thresholds = gc.get_threshold()
    gc.unfreeze()
    try:
        plain = create_app(settings)
        async with plain.router.lifespan_context(plain):
            assert gc.get_freeze_count() == 0
            assert gc.get_threshold() == thresholds
        served = create_app(settings, freeze_startup=True)
        async with served.router.lifespan_context(served):
            assert gc.get_freeze_count() > 10_000  # the compiled rule packs, at least
            assert gc.get_threshold() == SERVER_GC_THRESHOLDS
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)
