"""Start a real Courtyard server on a loopback port for a benchmark, and stop it afterwards."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def running_server(database_url: str | None = None, **env: str) -> Iterator[tuple[str, int]]:
    """Yield (base_url, pid) of a server on 127.0.0.1; always terminated on exit."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="courtyard-bench-") as tmp:
        environment = dict(os.environ)
        environment.update(
            {
                "COURTYARD_ENV": "test",
                "COURTYARD_SECRET_KEY": "bench-secret-key-that-is-long-enough-0123456789",
                "COURTYARD_DATA_DIR": tmp,
                "COURTYARD_DATABASE_URL": database_url or f"sqlite:///{Path(tmp) / 'bench.db'}",
                "COURTYARD_PORT": str(port),
                "COURTYARD_LOG_LEVEL": "warning",
                # A benchmark client logs in from one address many times.
                "COURTYARD_LOGIN_FAILURES_PER_ADDRESS": "1000000",
            }
        )
        environment.update(env)
        proc = subprocess.Popen(
            [sys.executable, "-m", "courtyard.cli", "serve"],
            env=environment,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                if proc.poll() is not None:
                    err = proc.stderr.read().decode() if proc.stderr else ""
                    raise RuntimeError(f"server exited early: {err[-2000:]}")
                try:
                    if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.1)
            else:
                raise RuntimeError("server did not become ready within 60 s")
            yield base, proc.pid
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def process_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def percentile(values: list[float], pct: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


@contextlib.contextmanager
def scratch_postgres(admin_url: str) -> Iterator[str]:
    """A fresh database on the server named by ``admin_url``, dropped afterwards, so a
    benchmark never writes into a database somebody else uses."""
    import asyncio
    import uuid

    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    name = f"courtyard_bench_{uuid.uuid4().hex[:10]}"

    async def run(statement: str) -> None:
        engine = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
        async with engine.connect() as conn:
            await conn.execute(text(statement))
        await engine.dispose()

    asyncio.run(run(f'CREATE DATABASE "{name}"'))
    try:
        yield admin_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
