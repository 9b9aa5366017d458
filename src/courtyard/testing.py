"""Support for the test suite and the benchmarks: real servers and scratch databases.

Both need the same two things — a `courtyard serve` process on a loopback port, and a
PostgreSQL database of their own that is dropped afterwards (never a database somebody else
uses) — so they share this module instead of each keeping a copy.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

# Cheap password hashing for servers whose logins are not what is being measured.
FAST_HASHING = {
    "COURTYARD_ARGON2_TIME_COST": "1",
    "COURTYARD_ARGON2_MEMORY_COST_KIB": "64",
    "COURTYARD_ARGON2_PARALLELISM": "1",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def _admin(admin_url: str, statement: str) -> None:
    engine = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(statement))
    finally:
        await engine.dispose()


async def create_scratch_database(admin_url: str, prefix: str = "courtyard_scratch") -> str:
    """A new, empty database on the server ``admin_url`` names; returns its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    await _admin(admin_url, f'CREATE DATABASE "{name}"')
    return admin_url.rsplit("/", 1)[0] + f"/{name}"


async def drop_scratch_database(admin_url: str, url: str) -> None:
    name = url.rsplit("/", 1)[1]
    await _admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.asynccontextmanager
async def scratch_postgres(admin_url: str, prefix: str = "courtyard_scratch") -> AsyncIterator[str]:
    """``create_scratch_database`` for the length of a block, then dropped."""
    url = await create_scratch_database(admin_url, prefix)
    try:
        yield url
    finally:
        await drop_scratch_database(admin_url, url)


class ServerProcess:
    """``python -m courtyard.cli serve`` on 127.0.0.1, its output in ``data_dir/server.log``."""

    def __init__(
        self,
        *,
        database_url: str,
        data_dir: Path,
        port: int | None = None,
        env: Mapping[str, str] | None = None,
        fast_hashing: bool = True,
    ) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.data_dir = data_dir
        self.log_path = data_dir / "server.log"
        data_dir.mkdir(parents=True, exist_ok=True)
        environment = {k: v for k, v in os.environ.items() if not k.startswith("COURTYARD_")}
        environment.update(
            {
                "COURTYARD_ENV": "test",
                "COURTYARD_SECRET_KEY": "scratch-server-secret-key-0123456789abcdef",
                "COURTYARD_HOST": "127.0.0.1",
                "COURTYARD_PORT": str(self.port),
                "COURTYARD_DATABASE_URL": database_url,
                "COURTYARD_DATA_DIR": str(data_dir),
                "COURTYARD_LOG_LEVEL": "warning",
                **(FAST_HASHING if fast_hashing else {}),
                **(env or {}),
            }
        )
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "courtyard.cli", "serve"],
                env=environment,
                cwd=data_dir,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_tail(self, chars: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:]

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Block until ``/readyz`` answers 200; raise with the server's log if it never does."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"the server exited with {self.process.returncode}:\n{self.log_tail()}"
                )
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{self.url}/readyz", timeout=1.0).status_code == 200:
                    return
            time.sleep(0.1)
        raise RuntimeError(
            f"the server did not become ready in {timeout:.0f} s:\n{self.log_tail()}"
        )

    def kill(self) -> None:
        """SIGKILL: no shutdown hooks, no flushing — a crash."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
