"""Benchmark: the authenticated-request path every API call pays, and the cost of a login.

Starts a real server on loopback (SQLite; also PostgreSQL when COURTYARD_BENCH_POSTGRES_URL
names a server, in a scratch database created and dropped by the run), registers users, then
for a fixed duration sends authenticated GET /api/v1/me from concurrent clients, and
separately measures logins (argon2id at production parameters). Bounded in time and count;
sends traffic only to 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import httpx

from _table import print_table

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _server import (
    percentile,
    process_cpu_seconds,
    process_rss_kib,
    running_server,
    scratch_postgres,
)

PASSWORD = "bench passphrase that is long enough"  # noqa: S105 - a benchmark account


async def _register(base: str, users: int) -> list[str]:
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        tokens = []
        for i in range(users):
            r = await client.post(
                "/api/v1/accounts",
                json={"handle": f"bench{i:05d}", "password": PASSWORD, "accept_terms": True},
            )
            r.raise_for_status()
            tokens.append(r.json()["session"]["token"])
        return tokens


async def _read_loop(
    base: str, tokens: list[str], concurrency: int, stop_at: float
) -> tuple[list[float], int]:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    latencies: list[float] = []
    errors = 0
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:

        async def worker(n: int) -> None:
            nonlocal errors
            headers = {"Authorization": f"Bearer {tokens[n % len(tokens)]}"}
            while time.time() < stop_at:
                start = time.perf_counter()
                r = await client.get("/api/v1/me", headers=headers)
                latencies.append(time.perf_counter() - start)
                if r.status_code != 200:
                    errors += 1

        await asyncio.gather(*(worker(n) for n in range(concurrency)))
    return latencies, errors


def _generator_process(
    base: str, tokens: list[str], concurrency: int, stop_at: float
) -> tuple[list[float], int, float]:
    latencies, errors = asyncio.run(_read_loop(base, tokens, concurrency, stop_at))
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return latencies, errors, usage.ru_utime + usage.ru_stime


def _authenticated_reads(base: str, pid: int, args: argparse.Namespace) -> dict[str, float]:
    tokens = asyncio.run(_register(base, args.users))
    per_proc = max(1, args.concurrency // args.procs)
    srv_cpu0 = process_cpu_seconds(pid)
    started = time.perf_counter()
    stop_at = time.time() + args.seconds
    with ProcessPoolExecutor(max_workers=args.procs) as pool:
        futures = [
            pool.submit(_generator_process, base, tokens, per_proc, stop_at)
            for _ in range(args.procs)
        ]
        results = [f.result() for f in futures]
    elapsed = time.perf_counter() - started
    srv_cpu = process_cpu_seconds(pid) - srv_cpu0
    latencies = [lat for r in results for lat in r[0]]
    return {
        "server_cpu": srv_cpu / elapsed,
        "generator_cpu": sum(r[2] for r in results) / elapsed,
        "requests": len(latencies),
        "rps": len(latencies) / elapsed,
        "p50_ms": percentile(latencies, 50) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
        "errors": sum(r[1] for r in results),
    }


async def _logins(base: str, count: int, concurrency: int) -> dict[str, float]:
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        latencies: list[float] = []
        sem = asyncio.Semaphore(concurrency)

        async def one(i: int) -> None:
            async with sem:
                start = time.perf_counter()
                r = await client.post(
                    "/api/v1/sessions",
                    json={"handle": f"bench{i % 10:05d}", "password": PASSWORD},
                )
                r.raise_for_status()
                latencies.append(time.perf_counter() - start)

        started = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(count)))
        elapsed = time.perf_counter() - started
    return {
        "logins_per_s": count / elapsed,
        "p50_ms": percentile(latencies, 50) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
    }


def run_backend(name: str, url: str | None, args: argparse.Namespace) -> list[tuple[str, ...]]:
    rows = []
    # Production argon2 parameters for the login figures.
    with running_server(url) as (base, pid):
        reads = _authenticated_reads(base, pid, args)
        rows.append(
            (
                name,
                "GET /api/v1/me (bearer)",
                f"users={args.users} conc={args.concurrency} procs={args.procs} "
                f"dur={args.seconds:.0f}s",
                f"{reads['rps']:.0f} req/s ({reads['rps'] / max(reads['server_cpu'], 0.01):.0f}"
                " per server core)",
                f"{reads['p50_ms']:.1f}",
                f"{reads['p99_ms']:.1f}",
                f"srv {reads['server_cpu']:.0%} gen {reads['generator_cpu']:.0%}",
                f"{process_rss_kib(pid) // 1024} MiB",
                str(int(reads["errors"])),
            )
        )
        logins = asyncio.run(_logins(base, args.logins, 4))
        rows.append(
            (
                name,
                "POST /api/v1/sessions",
                f"n={args.logins} conc=4 argon2id t=3 m=64MiB p=2",
                f"{logins['logins_per_s']:.1f} logins/s",
                f"{logins['p50_ms']:.1f}",
                f"{logins['p99_ms']:.1f}",
                "",
                "",
                "0",
            )
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--logins", type=int, default=40)
    parser.add_argument("--procs", type=int, default=2, help="load-generator processes")
    args = parser.parse_args()
    rows = run_backend("sqlite", None, args)
    pg = os.environ.get("COURTYARD_BENCH_POSTGRES_URL")
    if pg:
        with scratch_postgres(pg) as url:
            rows += run_backend("postgresql", url, args)
    header = (
        "backend",
        "workload",
        "parameters",
        "throughput",
        "p50 ms",
        "p99 ms",
        "cpu",
        "rss",
        "errors",
    )
    print_table(header, rows)


if __name__ == "__main__":
    main()
