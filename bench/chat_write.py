"""Benchmark: the chat write path alone, in-process — CPU per batch of sends, by batch size.

``bench/chat.py`` measures the whole server through sockets; this isolates the group-commit
transaction (``ChatsService._write_sends``: client-id lookup, contexts, the policy decision,
seqs, stream ids, events, messages, the commit and the after-commit hand-off to the tailer)
so that its fixed cost per batch and its cost per message can be read off separately and
compared between two trees in one run (``PYTHONPATH=<tree>/src``).

Why it matters: under an open loop the batch size follows the load, so the fixed cost per
transaction divided by the batch is what makes a server at 80 % of its maximum cost more per
message than at the maximum (docs/performance.md, Chats).

SQLite in a temporary directory, a server's collector settings (start-up frozen), direct
conversations between friends, 60-character texts. Bounded: a few seconds per batch size.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from _table import print_table
from chat import Account, befriend, direct_conversation, register
from courtyard.app import create_app
from courtyard.chats.service import SendRequest
from courtyard.core.config import Environment, Settings


async def measure(args: argparse.Namespace) -> list[tuple[str, ...]]:
    with tempfile.TemporaryDirectory(prefix="courtyard-bench-") as tmp:
        settings = Settings(
            env=Environment.TEST,
            secret_key="bench-secret-key-that-is-long-enough-0123456789",  # noqa: S106 - scratch
            database_url=f"sqlite:///{Path(tmp) / 'bench.db'}",
            data_dir=Path(tmp),
            argon2_time_cost=1,
            argon2_memory_cost_kib=64,
            argon2_parallelism=1,
        )
        app = create_app(settings, freeze_startup=True)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 50000))
            async with httpx.AsyncClient(
                base_url="http://testserver", transport=transport, timeout=120
            ) as http:
                accounts = await register(http, "w", 2 * args.pairs)
                senders, receivers = accounts[: args.pairs], accounts[args.pairs :]
                pairs = list(zip(senders, receivers, strict=True))
                await befriend(http, pairs)
                conversations = [await direct_conversation(http, s, r) for s, r in pairs]
            chats = app.state.services.chats
            return await _run(chats, senders, conversations, args)


async def _run(
    chats: Any, senders: list[Account], conversations: list[str], args: argparse.Namespace
) -> list[tuple[str, ...]]:
    serial = 0
    text = "see you at the station at six, bring the tickets please " + "x" * 4

    def batch_of(size: int) -> list[SendRequest]:
        nonlocal serial
        out = []
        for _ in range(size):
            index = serial % len(senders)
            serial += 1
            out.append(
                SendRequest(
                    sender_id=senders[index].id,
                    conversation_id=conversations[index],
                    client_id=f"c{serial}",
                    text=text,
                )
            )
        return out

    for _ in range(20):  # warm the statement caches
        await chats._write_sends(batch_of(8))
    rows: list[tuple[str, ...]] = []
    fit: list[tuple[int, float]] = []
    for size in args.sizes:
        cpu: list[float] = []
        wall: list[float] = []
        deadline = time.perf_counter() + args.seconds
        while time.perf_counter() < deadline or len(cpu) < 5:
            batch = batch_of(size)
            c0, w0 = time.process_time(), time.perf_counter()
            results = await chats._write_sends(batch)
            cpu.append(time.process_time() - c0)
            wall.append(time.perf_counter() - w0)
            bad = [r for r in results if isinstance(r, BaseException)]
            if bad:
                raise RuntimeError(f"a send failed: {bad[0]!r}")
        per_batch = statistics.median(cpu) * 1e6
        fit.append((size, per_batch))
        rows.append(
            (
                f"batch of {size}",
                f"{len(cpu)} batches, {args.pairs} direct conversations, 60-char texts",
                f"{per_batch:,.0f} µs CPU per batch (median)",
                f"{per_batch / size:,.1f} µs CPU per message",
                f"{statistics.median(wall) * 1e3:.2f} ms wall (p99 "
                f"{sorted(wall)[int(len(wall) * 0.99)] * 1e3:.2f}, max {max(wall) * 1e3:.2f})",
            )
        )
    if len({x for x, _ in fit}) < 2:
        return rows
    # Least squares: cost(batch) = fixed + size * marginal.
    n = len(fit)
    mean_x = sum(x for x, _ in fit) / n
    mean_y = sum(y for _, y in fit) / n
    marginal = sum((x - mean_x) * (y - mean_y) for x, y in fit) / sum(
        (x - mean_x) ** 2 for x, _ in fit
    )
    fixed = mean_y - marginal * mean_x
    rows.append(
        (
            "fit: fixed + size × marginal",
            f"sizes {', '.join(str(s) for s, _ in fit)}",
            f"fixed {fixed:,.0f} µs per batch",
            f"marginal {marginal:,.1f} µs per message",
            "",
        )
    )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=100)
    parser.add_argument(
        "--sizes", type=lambda v: [int(x) for x in v.split(",")], default=[1, 5, 20, 50, 200]
    )
    parser.add_argument("--seconds", type=float, default=3.0, help="per batch size")
    args = parser.parse_args()
    rows = asyncio.run(measure(args))
    print_table(("measure", "parameters", "per batch", "per message", "wall"), rows)


if __name__ == "__main__":
    main()
