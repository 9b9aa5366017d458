"""Benchmark plumbing: a real server on loopback (courtyard.testing), process figures."""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from courtyard.testing import ServerProcess, create_scratch_database, drop_scratch_database


@contextlib.contextmanager
def running_server(
    database_url: str | None = None, *, fast_hashing: bool = False, **env: str
) -> Iterator[tuple[str, int]]:
    """Yield (base_url, pid) of a server on 127.0.0.1; always stopped on exit.

    Password hashing stays at production cost unless ``fast_hashing``: login figures are
    only meaningful with the real parameters.
    """
    with tempfile.TemporaryDirectory(prefix="courtyard-bench-") as tmp:
        server = ServerProcess(
            database_url=database_url or f"sqlite:///{Path(tmp) / 'bench.db'}",
            data_dir=Path(tmp),
            # A benchmark client logs in from one address many times.
            env={"COURTYARD_LOGIN_FAILURES_PER_ADDRESS": "1000000", **env},
            fast_hashing=fast_hashing,
        )
        with server:
            server.wait_ready()
            yield server.url, server.pid


@contextlib.contextmanager
def running_nodes(
    database_url: str | None, count: int = 1, *, fast_hashing: bool = False, **env: str
) -> Iterator[list[tuple[str, int]]]:
    """Yield [(base_url, pid)] of ``count`` servers sharing one database; stopped on exit.

    Several nodes only make sense on PostgreSQL with ``COURTYARD_REDIS_URL`` in ``env`` (the
    bus that wakes the other nodes' tailers). Each node has its own data directory, and they
    start one after another so that only the first applies the migrations. A child process
    inherits this process's RLIMIT_NOFILE: raise it before calling this.
    """
    with tempfile.TemporaryDirectory(prefix="courtyard-bench-") as tmp:
        url = database_url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        with contextlib.ExitStack() as stack:
            nodes = []
            for index in range(count):
                server = stack.enter_context(
                    ServerProcess(
                        database_url=url,
                        data_dir=Path(tmp) / f"node{index}",
                        env={"COURTYARD_LOGIN_FAILURES_PER_ADDRESS": "1000000", **env},
                        fast_hashing=fast_hashing,
                    )
                )
                server.wait_ready()
                nodes.append((server.url, server.pid))
            yield nodes


@contextlib.contextmanager
def scratch_postgres(admin_url: str) -> Iterator[str]:
    """A fresh database for one benchmark, dropped afterwards: never a shared one."""
    url = asyncio.run(create_scratch_database(admin_url, "courtyard_bench"))
    try:
        yield url
    finally:
        asyncio.run(drop_scratch_database(admin_url, url))


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
