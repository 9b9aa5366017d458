"""Benchmark: the event stream end to end (write → stream row → tailer → WebSocket).

Starts a real server on loopback (SQLite; also PostgreSQL when COURTYARD_BENCH_POSTGRES_URL
names a server, in a scratch database), registers receivers and senders, connects every
receiver's WebSocket, then has the senders send friend requests to every receiver (each
request appends one event) and measures acknowledged requests per second, events delivered
per second and the latency from the request's answer to the event's arrival. Then one
receiver reconnects with cursor 0 and the replay rate is measured. Bounded in count; traffic
only to 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
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
from courtyard.client import StreamClient

PASSWORD = "bench passphrase that is long enough"  # noqa: S105 - a benchmark account


async def _register(http: httpx.AsyncClient, handle: str) -> tuple[str, str]:
    body = {"handle": handle, "password": PASSWORD, "accept_terms": True}
    response = await http.post("/api/v1/accounts", json=body)
    response.raise_for_status()
    data = response.json()
    return data["account"]["id"], data["session"]["token"]


async def _run(base: str, args: argparse.Namespace) -> dict[str, float]:
    ws_url = base.replace("http://", "ws://") + "/api/v1/stream"
    async with httpx.AsyncClient(base_url=base, timeout=60) as http:
        receivers = [await _register(http, f"recv_{i}") for i in range(args.receivers)]
        senders = [await _register(http, f"send_{i}") for i in range(args.senders)]
        streams = [await StreamClient(ws_url, token).connect() for _, token in receivers]
        for stream in streams:
            await stream.register(None)
        answered: dict[str, float] = {}
        arrived: list[float] = []
        total = args.senders * args.receivers

        async def receive(stream: StreamClient, expect: int) -> None:
            for _ in range(expect):
                event = await stream.next_event()
                answered_at = answered.get(event["data"]["request"]["id"])
                arrived.append(time.perf_counter() - answered_at if answered_at else 0.0)

        async def send(token: str) -> None:
            headers = {"Authorization": f"Bearer {token}"}
            for account_id, _ in receivers:
                r = await http.post(
                    "/api/v1/contacts/requests", json={"account_id": account_id}, headers=headers
                )
                r.raise_for_status()
                answered[r.json()["id"]] = time.perf_counter()

        readers = [asyncio.create_task(receive(s, args.senders)) for s in streams]
        start = time.perf_counter()
        await asyncio.gather(*(send(token) for _, token in senders))
        sent_s = time.perf_counter() - start
        await asyncio.wait_for(asyncio.gather(*readers), 120)
        delivered_s = time.perf_counter() - start
        for stream in streams:
            await stream.close()

        replay = await StreamClient(ws_url, receivers[0][1]).connect()
        await replay.register(0)
        replay_start = time.perf_counter()
        for _ in range(args.senders):
            await replay.next_event()
        replay_s = time.perf_counter() - replay_start
        await replay.close()
    return {
        "requests_per_s": total / sent_s,
        "events_per_s": total / delivered_s,
        "p50_ms": percentile(arrived, 50) * 1000,
        "p99_ms": percentile(arrived, 99) * 1000,
        "replay_per_s": args.senders / replay_s,
    }


def run_backend(name: str, url: str | None, args: argparse.Namespace) -> list[tuple[str, ...]]:
    with running_server(url, fast_hashing=True) as (base, pid):
        cpu_before = process_cpu_seconds(pid)
        started = time.perf_counter()
        result = asyncio.run(_run(base, args))
        server_cpu = (process_cpu_seconds(pid) - cpu_before) / (time.perf_counter() - started)
        rss = process_rss_kib(pid) // 1024
    params = f"senders={args.senders} receivers={args.receivers}"
    return [
        (
            name,
            "friend request → event on socket",
            params,
            f"{result['requests_per_s']:.0f} req/s, {result['events_per_s']:.0f} events/s",
            f"{result['p50_ms']:.1f}",
            f"{result['p99_ms']:.1f}",
            f"srv {server_cpu:.0%}",
            f"{rss} MiB",
        ),
        (
            name,
            "replay from cursor 0",
            f"{args.senders} events",
            f"{result['replay_per_s']:.0f} events/s",
            "",
            "",
            "",
            "",
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--senders", type=int, default=20)
    parser.add_argument("--receivers", type=int, default=50)
    args = parser.parse_args()
    rows = run_backend("sqlite", None, args)
    pg = os.environ.get("COURTYARD_BENCH_POSTGRES_URL")
    if pg:
        with scratch_postgres(pg) as url:
            rows += run_backend("postgresql", url, args)
    header = ("backend", "workload", "parameters", "throughput", "p50 ms", "p99 ms", "cpu", "rss")
    print_table(header, rows)


if __name__ == "__main__":
    main()
