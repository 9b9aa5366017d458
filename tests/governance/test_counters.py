"""Counters for rules, on every backend: memory, SQLite, PostgreSQL and Redis.

Memory is exact; the bucketed backends may count increments up to one bucket older than the
window, never fewer than the window holds (see ``courtyard.governance.counters``).
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from courtyard.core.db import Database
from courtyard.governance.counters import (
    CounterOp,
    CounterRead,
    Counters,
    DatabaseCounters,
    MemoryCounters,
    RedisCounters,
    bucket_seconds,
    build_counters,
)
from courtyard.governance.store import counter_buckets, counter_members
from tests.conftest import POSTGRES_URL, REDIS_URL, _truncate_postgres

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
COUNTER_BACKENDS = ["memory", "sqlite"]
COUNTER_BACKENDS += ["postgresql"] if POSTGRES_URL else []
COUNTER_BACKENDS += ["redis"] if REDIS_URL else []


@dataclass
class Backend:
    name: str
    counters: Counters
    db: Database | None = None

    @property
    def exact(self) -> bool:
        return self.name == "memory"


@pytest.fixture(params=COUNTER_BACKENDS)
async def backend_counters(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[Backend]:
    name = str(request.param)
    db: Database | None = None
    counters: Counters
    if name == "memory":
        counters = MemoryCounters()
    elif name == "redis":
        counters = RedisCounters(REDIS_URL, prefix=f"cy:test:{uuid.uuid4().hex}:")
    else:
        if name == "sqlite":
            template: Path = request.getfixturevalue("sqlite_template")
            path = tmp_path / "courtyard.db"
            shutil.copyfile(template, path)
            db = Database(f"sqlite:///{path}")
        else:
            url: str = request.getfixturevalue("postgres_database")
            await _truncate_postgres(url)
            db = Database(url)
        counters = DatabaseCounters(db)
    yield Backend(name, counters, db)
    await counters.close()
    if db is not None:
        await db.dispose()


def key() -> str:
    """A fresh key, so that hypothesis examples sharing a backend never see each other."""
    return f"k:{uuid.uuid4().hex}"


async def test_reads_include_the_increments_just_made(backend_counters: Backend) -> None:
    c, k = backend_counters.counters, key()
    read = CounterRead(k, 60)
    assert read.name == f"{k}@60"
    assert await c.apply([CounterOp(k, 60)], [read], now=T0) == {read.name: 1}
    result = await c.apply([CounterOp(k, 60, amount=5)], [read], now=T0)
    assert result == {read.name: 6}
    assert await c.apply([], [read, CounterRead("other", 60)], now=T0) == {
        read.name: 6,
        "other@60": 0,
    }


async def test_increments_older_than_the_window_stop_counting(backend_counters: Backend) -> None:
    c, k = backend_counters.counters, key()
    window = 600  # buckets of 10 s
    width = bucket_seconds(window)
    read = CounterRead(k, window)
    await c.apply([CounterOp(k, window, amount=3)], [], now=T0)
    later = T0 + timedelta(seconds=window - 1)
    assert (await c.apply([CounterOp(k, window)], [read], now=later))[read.name] == 4
    # Exactly one window later the first increment is out (memory) or, at worst, one bucket
    # later (bucketed backends).
    exact = (await c.apply([], [read], now=T0 + timedelta(seconds=window)))[read.name]
    if backend_counters.exact:
        assert exact == 1
    else:
        assert exact in {1, 4}
    after_bucket = T0 + timedelta(seconds=window + width)
    assert (await c.apply([], [read], now=after_bucket))[read.name] == 1
    gone = T0 + timedelta(seconds=2 * window + width)
    assert (await c.apply([], [read], now=gone))[read.name] == 0


async def test_a_shorter_read_window_counts_only_recent_increments(
    backend_counters: Backend,
) -> None:
    c, k = backend_counters.counters, key()
    await c.apply([CounterOp(k, 3600, amount=10)], [], now=T0)
    now = T0 + timedelta(seconds=1800)
    reads = [CounterRead(k, 3600), CounterRead(k, 600)]
    result = await c.apply([CounterOp(k, 3600, amount=2)], reads, now=now)
    assert result == {f"{k}@3600": 12, f"{k}@600": 2}


async def test_distinct_members_count_once(backend_counters: Backend) -> None:
    c, k = backend_counters.counters, key()
    read = CounterRead(k, 60, distinct=True)
    assert read.name == f"{k}@60#"
    ops = [CounterOp(k, 60, member=m) for m in ("a", "b", "a")]
    assert await c.apply(ops, [read], now=T0) == {read.name: 2}
    # The amount of a member op is ignored, and a sum read of the same key sees no members.
    result = await c.apply(
        [CounterOp(k, 60, amount=7, member="c")], [read, CounterRead(k, 60)], now=T0
    )
    assert result == {read.name: 3, f"{k}@60": 0}
    # "a" again later keeps it in the window after the others have left it.
    await c.apply([CounterOp(k, 60, member="a")], [], now=T0 + timedelta(seconds=50))
    assert (await c.apply([], [read], now=T0 + timedelta(seconds=100)))[read.name] == 1
    assert (await c.apply([], [read], now=T0 + timedelta(seconds=200)))[read.name] == 0


async def test_long_members_are_counted(backend_counters: Backend) -> None:
    c, k = backend_counters.counters, key()
    ops = [CounterOp(k, 60, member="x" * 100), CounterOp(k, 60, member="x" * 99 + "y")]
    assert await c.apply(ops, [CounterRead(k, 60, distinct=True)], now=T0) == {f"{k}@60#": 2}


async def test_one_apply_reads_many_keys_as_each_alone(backend_counters: Backend) -> None:
    """A batch of sends reads every author's counters at once: each value must be what a
    read of that key alone returns (keys without rows read 0, sums and distinct counts and
    different windows side by side, whatever the batch size)."""
    c = backend_counters.counters
    keys = [key() for _ in range(7)]
    for index, name in enumerate(keys[:5]):  # the last two keys are never incremented
        ops = [CounterOp(name, 3600, amount=index + 1)]
        ops += [CounterOp(name, 3600, member=f"m{m}") for m in range(index)]
        await c.apply(ops, [], now=T0 - timedelta(seconds=120))
        await c.apply([CounterOp(name, 60, amount=10 * (index + 1))], [], now=T0)
    reads = [
        CounterRead(name, window, distinct=distinct)
        for name in keys
        for window in (60, 3600)
        for distinct in (False, True)
    ]
    together = await c.apply([], reads, now=T0)
    for read in reads:
        alone = await c.apply([], [read], now=T0)
        assert together[read.name] == alone[read.name], read
    first, last = keys[2], keys[6]
    assert together[CounterRead(first, 3600).name] == 3 + 30
    assert together[CounterRead(first, 60).name] == 30
    assert together[CounterRead(first, 3600, distinct=True).name] == 2
    assert together[CounterRead(last, 3600).name] == 0
    assert together[CounterRead(last, 3600, distinct=True).name] == 0


async def test_invalid_keys_and_windows_are_refused(backend_counters: Backend) -> None:
    c = backend_counters.counters
    with pytest.raises(ValueError, match="key"):
        await c.apply([CounterOp("k" * 201, 60)], [], now=T0)
    with pytest.raises(ValueError, match="window"):
        await c.apply([], [CounterRead("k", 0)], now=T0)


async def test_the_database_prunes_expired_rows(backend_counters: Backend) -> None:
    db = backend_counters.db
    if db is None:
        pytest.skip("pruning is a database concern (memory and Redis expire by themselves)")
    c = backend_counters.counters
    await c.apply([CounterOp("old", 60), CounterOp("old", 60, member="m")], [], now=T0)
    await c.apply([CounterOp("new", 3600)], [], now=T0 + timedelta(seconds=100))

    async def rows() -> tuple[int, int]:
        async with db.read() as conn:
            buckets = (await conn.execute(select(func.count()).select_from(counter_buckets))).one()
            members = (await conn.execute(select(func.count()).select_from(counter_members))).one()
            return int(buckets[0]), int(members[0])

    # Opportunistic pruning in apply (at most once a minute) removed the expired "old" rows.
    assert await rows() == (1, 0)
    assert isinstance(c, DatabaseCounters)
    assert await c.prune(T0 + timedelta(days=1)) == 1
    assert await rows() == (0, 0)


async def test_inside_the_callers_transaction(tmp_path: Path, sqlite_template: Path) -> None:
    path = tmp_path / "c.db"
    shutil.copyfile(sqlite_template, path)
    db = Database(f"sqlite:///{path}")
    counters = DatabaseCounters(db)
    read = CounterRead("k", 60)

    seen: list[dict[str, int]] = []

    async def count_then_fail() -> None:
        async with db.write() as tx:
            seen.append(await counters.apply([CounterOp("k", 60)], [read], now=T0, conn=tx.conn))
            raise Boom

    with pytest.raises(Boom):
        await count_then_fail()
    assert seen == [{"k@60": 1}]
    # The increment rolled back with the caller's transaction.
    assert await counters.apply([], [read], now=T0) == {"k@60": 0}
    await db.dispose()


class Boom(Exception):
    pass


def test_build_counters_picks_redis_when_configured(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'x.db'}")
    assert isinstance(build_counters(None, db), DatabaseCounters)
    assert isinstance(build_counters("redis://localhost:1/0", db), RedisCounters)


# ---- property: every backend agrees with a reference model ---------------------------------

WINDOWS = {"a": 60, "b": 600, "c": 3600}


@dataclass(frozen=True)
class Step:
    offset: float  # seconds since the previous step
    key: str
    amount: int
    member: str | None


steps = st.lists(
    st.builds(
        Step,
        offset=st.one_of(st.just(0.0), st.floats(0, 120), st.floats(0, 3000)).map(
            lambda x: round(x, 3)
        ),
        key=st.sampled_from(sorted(WINDOWS)),
        amount=st.integers(1, 5),
        member=st.one_of(st.none(), st.sampled_from(["m1", "m2", "m3", "m4"])),
    ),
    min_size=1,
    max_size=25,
)


def reference(
    history: list[tuple[float, str, int, str | None]], key: str, now: float, window: float
) -> tuple[int, int]:
    """The exact sum and distinct count of ``key`` over ``(now - window, now]``."""
    inside = [h for h in history if h[1] == key and now - window < h[0] <= now]
    return (
        sum(h[2] for h in inside if h[3] is None),
        len({h[3] for h in inside if h[3] is not None}),
    )


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(script=steps)
async def test_every_backend_agrees_with_the_reference(
    backend_counters: Backend, script: list[Step]
) -> None:
    c = backend_counters.counters
    run = uuid.uuid4().hex[:8]
    history: list[tuple[float, str, int, str | None]] = []
    t = T0.timestamp()
    for step in script:
        t += step.offset
        now = datetime.fromtimestamp(t, UTC)
        window = WINDOWS[step.key]
        name = f"{run}:{step.key}"
        history.append((t, step.key, step.amount, step.member))
        reads = [
            CounterRead(name, window),
            CounterRead(name, window // 2),
            CounterRead(name, window, distinct=True),
            CounterRead(name, window // 2, distinct=True),
        ]
        op = CounterOp(name, window, amount=step.amount, member=step.member)
        result = await c.apply([op], reads, now=now)
        for read in reads:
            low = reference(history, step.key, t, read.window_seconds)
            high = reference(history, step.key, t, read.window_seconds + bucket_seconds(window))
            got = result[read.name]
            index = 1 if read.distinct else 0
            if backend_counters.exact:
                assert got == low[index], (read, history)
            else:
                assert low[index] <= got <= high[index], (read, history)
