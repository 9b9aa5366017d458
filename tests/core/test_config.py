"""Settings: read from COURTYARD_* variables, safe defaults, and production refuses unsafe ones."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from courtyard.core.config import (
    PLACEHOLDER_SECRET,
    Environment,
    InsecureConfiguration,
    Settings,
)

GOOD_SECRET = "k" * 48


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("COURTYARD_"):
            monkeypatch.delenv(name)


def test_defaults_serve_a_development_machine() -> None:
    settings = Settings()
    assert settings.env is Environment.DEVELOPMENT
    assert settings.is_sqlite
    assert settings.secret_key == PLACEHOLDER_SECRET
    assert settings.media_dir == settings.data_dir / "media"
    assert settings.redis_url is None


@pytest.mark.parametrize("secret", [PLACEHOLDER_SECRET, "", "short", "x" * 31])
def test_production_refuses_a_placeholder_or_short_secret(secret: str) -> None:
    with pytest.raises(InsecureConfiguration, match="COURTYARD_SECRET_KEY"):
        Settings(env=Environment.PRODUCTION, secret_key=secret)


def test_production_refuses_the_default_secret_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COURTYARD_ENV", "production")
    with pytest.raises(InsecureConfiguration):
        Settings()


def test_production_starts_with_a_long_random_secret() -> None:
    settings = Settings(env=Environment.PRODUCTION, secret_key="x" * 32)
    assert settings.env is Environment.PRODUCTION


@pytest.mark.parametrize("env", [Environment.DEVELOPMENT, Environment.TEST])
def test_other_environments_accept_the_placeholder(env: Environment) -> None:
    assert Settings(env=env).secret_key == PLACEHOLDER_SECRET


def test_settings_come_from_courtyard_variables(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("COURTYARD_ENV", "production")
    monkeypatch.setenv("COURTYARD_SECRET_KEY", GOOD_SECRET)
    monkeypatch.setenv("COURTYARD_DATABASE_URL", "postgresql+asyncpg://db.internal/courtyard")
    monkeypatch.setenv("COURTYARD_REDIS_URL", "redis://cache.internal:6379/2")
    monkeypatch.setenv("COURTYARD_PORT", "9123")
    monkeypatch.setenv("COURTYARD_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("COURTYARD_SESSION_TTL_DAYS", "7")
    monkeypatch.setenv("COURTYARD_MIGRATE_ON_START", "false")
    monkeypatch.setenv("COURTYARD_LOGIN_FAILURES_PER_ADDRESS", "12")
    monkeypatch.setenv("SECRET_KEY", "not ours")  # only the COURTYARD_ prefix is read
    settings = Settings()
    assert settings.env is Environment.PRODUCTION
    assert settings.secret_key == GOOD_SECRET
    assert settings.database_url == "postgresql+asyncpg://db.internal/courtyard"
    assert not settings.is_sqlite
    assert settings.redis_url == "redis://cache.internal:6379/2"
    assert settings.port == 9123
    assert settings.data_dir == tmp_path
    assert settings.media_dir == tmp_path / "media"
    assert settings.session_ttl_days == 7
    assert settings.migrate_on_start is False
    assert settings.login_failures_per_address == 12


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("COURTYARD_PORT", "eighty"),
        ("COURTYARD_ENV", "staging"),
        ("COURTYARD_SESSION_TTL_DAYS", "0"),
        ("COURTYARD_PASSWORD_MIN_LENGTH", "4"),
        ("COURTYARD_SQLITE_SYNCHRONOUS", "OFF"),
        ("COURTYARD_LOGIN_FAILURES_PER_ACCOUNT_ADDRESS", "0"),
        ("COURTYARD_LOGIN_MAX_BACKOFF_SECONDS", "-1"),
        ("COURTYARD_MAX_BODY_BYTES", "10"),
    ],
)
def test_invalid_values_are_refused_at_start(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError):
        Settings()
