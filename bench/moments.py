"""Benchmark: the Moments feed (fan-out on read) on the issue's data set, in-process.

The data set is bench/moments_data.py's (100,000 accounts, ~200 friends on average, 20 with
5,000, 2,000,000 posts over a year; ``--quick``: 5,000 accounts and 100,000 posts). It is
generated on first use and kept (var/bench/moments.db; on PostgreSQL a database
``courtyard_bench_moments`` on the server COURTYARD_BENCH_POSTGRES_URL names) because the full
set takes minutes to build. Services come from ``courtyard.container.build_services`` on that
database with a clock fixed one minute after the data set's last post, so every run sees the
same "now"; nothing goes over HTTP.

What is measured, per backend:

- first-page feed latency (``MomentsService.feed(actor)``: the default page of 50 with its
  likes and comments) for three classes of viewer: ordinary (150 to 250 friends), heavy (the
  5,000-friend accounts, each asked several times) and none/few (0 to 5 friends). The calls
  are shuffled across classes and made one at a time after a warm-up; p50/p95/p99/max per
  class and overall. Twice: with the garbage collector as a Courtyard process has it, and
  after ``gc.freeze()`` (the objects built at start-up moved out of the collector's reach),
  because a full collection of this process's ~400,000 start-up objects takes 100-200 ms and
  lands on whichever call triggers it; the number of full collections is printed beside;
- the second page (``feed(actor, before=next_cursor)``) for the same calls;
- where the time goes (``--breakdown``): the store calls timed inside the first page;
- posting: ``create_post`` by a 5,000-friend author and by a ~200-friend author (time per
  post, and rows written per post counted from the statements the engine runs), on the fixed
  clock moved a minute per post; the posts are deleted afterwards;
- fan-out on write, for comparison: the timeline rows one post would write to a table of
  (viewer_id, post_id) (the audience the composer's check counts) and the time to insert them
  in one transaction; the timeline rows the whole data set would hold (the generator's count
  of each post's audience) and their size (bytes per row measured on a timeline built for the
  sampled viewers); the first-page query on that timeline beside the fan-out-on-read
  candidate query (``store.candidate_posts``) for the same viewers.

Bounded: the sampled calls are counted (``--samples`` per class), the run stops by itself,
and traffic goes only to the local database. The machine is shared: compare figures of one
run; the load average is printed. ``--markdown`` prints the table for docs/performance.md.

    python bench/moments.py                       # SQLite, plus PostgreSQL when configured
    python bench/moments.py --quick --backends sqlite
    COURTYARD_BENCH_POSTGRES_URL=postgresql+asyncpg://postgres@127.0.0.1:5432/test \\
        python bench/moments.py --backends postgres
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Column, MetaData, String, Table, event, func, insert, select, text
from sqlalchemy.engine import Engine

import _table

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _server import percentile  # noqa: I001 - bench/ is put on the path just above
from moments_data import DEFAULT_DATABASE, META_TABLE, ROOT, Params, generate, parse

from courtyard.accounts import store as accounts_store
from courtyard.accounts.model import Actor
from courtyard.container import Services, build_services
from courtyard.contacts.store import friendships
from courtyard.core import json
from courtyard.core.clock import FakeClock
from courtyard.core.config import Settings
from courtyard.moments import store
from courtyard.moments.model import CheckIn, PostIn

Row = tuple[str, ...]
Viewers = dict[str, list[tuple[str, int]]]  # class -> [(account id, friend count)]
CLASSES = ("ordinary", "heavy", "few")
CLASS_LABELS = {
    "ordinary": "ordinary (150-250 friends)",
    "heavy": "heavy (5,000 friends)",
    "few": "none/few (0-5 friends)",
}
BAR_MS = 50.0
PAGE = 50  # the feed's default page
TIMELINE = "bench_timeline"


# ---- the data set ---------------------------------------------------------------------------


def database_url(backend: str, quick: bool) -> str:
    if backend == "sqlite":
        if quick:
            return f"sqlite:///{ROOT / 'var' / 'bench' / 'moments-quick.db'}"
        return DEFAULT_DATABASE
    admin = os.environ.get("COURTYARD_BENCH_POSTGRES_URL")
    if not admin:
        raise SystemExit("--backends postgres needs COURTYARD_BENCH_POSTGRES_URL")
    name = "courtyard_bench_moments_quick" if quick else "courtyard_bench_moments"
    return f"{admin.rsplit('/', 1)[0]}/{name}"


def dataset_params(quick: bool) -> Params:
    return parse(["--quick"] if quick else [])[1]


async def read_meta(services: Services) -> dict[str, Any]:
    async with services.db.read() as conn:
        rows = await conn.execute(text(f"SELECT key, value FROM {META_TABLE}"))  # noqa: S608
        return {str(key): json.loads(value) for key, value in (tuple(r) for r in rows)}


def dataset_label(meta: dict[str, Any]) -> str:
    p = meta["params"]
    heavy = f"{p['heavy']}×{p['heavy_friends'] / 1000:g}k" if p["heavy"] else "none"
    return (
        f"{p['users'] / 1000:g}k users, {meta.get('edges', 0) / max(1, p['users']):.0f} friends "
        f"avg, heavy {heavy}, {p['posts'] / 1e6:g}M posts/{p['days']} d"
    )


def raw_engine(services: Services) -> Engine:
    """The synchronous engine under the Database (statement events are registered there)."""
    db: Any = services.db
    engine = db._sync_engine or db._async_engine.sync_engine
    assert engine is not None
    return engine  # type: ignore[no-any-return]


async def actor_of(services: Services, account_id: str) -> Actor:
    async with services.db.read() as conn:
        account = await accounts_store.get_account(conn, account_id)
    assert account is not None
    return Actor(account=account, session_id="bench", csrf_token="bench")  # noqa: S106


async def sample_viewers(
    services: Services, meta: dict[str, Any], per_class: int, rnd: random.Random
) -> Viewers:
    """Random accounts probed (500 at a time) until each class is full; the heavy class is
    every heavy account."""
    users = int(meta["params"]["users"])
    out: Viewers = {c: [] for c in CLASSES}
    a, f = accounts_store.accounts.c, friendships.c
    order = rnd.sample(range(users), users)
    async with services.db.read() as conn:

        async def friend_counts(ids: Sequence[str]) -> dict[str, int]:
            rows = await conn.execute(
                select(f.owner_id, func.count()).where(f.owner_id.in_(ids)).group_by(f.owner_id)
            )
            return {str(owner): int(n) for owner, n in (tuple(r) for r in rows)}

        heavy = list(meta["heavy"])
        counts = await friend_counts(heavy)
        out["heavy"] = [(h, counts.get(h, 0)) for h in heavy]
        for start in range(0, users, 500):
            if len(out["ordinary"]) >= per_class and len(out["few"]) >= per_class:
                break
            handles = [f"u{i:06d}" for i in order[start : start + 500]]
            ids = [str(r[0]) for r in await conn.execute(select(a.id).where(a.handle.in_(handles)))]
            counts = await friend_counts(ids)
            for account_id in ids:
                n = counts.get(account_id, 0)
                if n <= 5 and len(out["few"]) < per_class:
                    out["few"].append((account_id, n))
                elif 150 <= n <= 250 and len(out["ordinary"]) < per_class:
                    out["ordinary"].append((account_id, n))
    return out


# ---- measuring --------------------------------------------------------------------------------


class StoreTimer:
    """Times the moments store calls made inside the feed (``--breakdown``), per class."""

    NAMES = (
        "friends_of",
        "permissions_between",
        "windows_of",
        "windows_of_friends",
        "labels_containing",
        "candidate_posts",
        "comments_of",
        "likes_of",
    )

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.by_class: dict[str, dict[str, float]] = {c: {} for c in CLASSES}
        self.totals: dict[str, list[float]] = {c: [] for c in CLASSES}
        self._saved: dict[str, Any] = {}

    def __enter__(self) -> StoreTimer:
        for name in self.NAMES:
            original = getattr(store, name, None)
            if original is not None:
                self._saved[name] = original
                setattr(store, name, self._wrap(name, original))
        return self

    def __exit__(self, *exc: object) -> None:
        for name, original in self._saved.items():
            setattr(store, name, original)

    def charge(self, cls: str, total: float) -> None:
        """What was timed since the last charge belongs to one call by a viewer of ``cls``."""
        spent = self.by_class[cls]
        for name, seconds in self.seconds.items():
            spent[name] = spent.get(name, 0.0) + seconds
        self.totals[cls].append(total)
        self.seconds.clear()

    def discard(self) -> None:
        self.seconds.clear()

    def _wrap(self, name: str, fn: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def timed(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return await fn(*args, **kwargs)
            finally:
                self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - t0

        return timed


class FullCollections:
    """Counts the collector's full (generation 2) collections and their pauses."""

    def __init__(self) -> None:
        self.count = 0
        self.seconds = 0.0
        self._start = 0.0

    def __enter__(self) -> FullCollections:
        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self._callback)

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if info.get("generation") != 2:
            return
        if phase == "start":
            self._start = time.perf_counter()
        else:
            self.count += 1
            self.seconds += time.perf_counter() - self._start

    def note(self) -> str:
        if not self.count:
            return "no full GC"
        return f"{self.count} full GC, {self.seconds / self.count * 1000:.0f} ms each"


@contextlib.contextmanager
def count_writes(engine: Engine) -> Iterator[Counter[str]]:
    """Rows written per table (INSERT/UPDATE/DELETE rowcounts) while the block runs."""
    written: Counter[str] = Counter()

    def after(_c: Any, cursor: Any, statement: str, *_: Any) -> None:
        words = statement.lstrip().split(None, 3)
        if not words or words[0].upper() not in {"INSERT", "UPDATE", "DELETE"}:
            return
        verb = words[0].upper()
        target = words[2] if verb in {"INSERT", "DELETE"} and len(words) > 2 else words[1]
        written[target.strip('"').split("(")[0]] += max(1, int(cursor.rowcount or 0))

    event.listen(engine, "after_cursor_execute", after)
    try:
        yield written
    finally:
        event.remove(engine, "after_cursor_execute", after)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def stats(samples: Sequence[float]) -> tuple[str, str, str, str]:
    if not samples:
        return ("", "", "", "")
    values = list(samples)
    return (
        ms(percentile(values, 50)),
        ms(percentile(values, 95)),
        ms(percentile(values, 99)),
        ms(max(values)),
    )


def load() -> str:
    return "load avg " + "/".join(f"{x:.1f}" for x in os.getloadavg())


# ---- the feed ---------------------------------------------------------------------------------


async def feed_latency(
    services: Services,
    viewers: Viewers,
    args: argparse.Namespace,
    rnd: random.Random,
    label: str,
    data: str,
    gc_mode: str,
) -> list[Row]:
    actors = {a: await actor_of(services, a) for m in viewers.values() for a, _ in m}
    calls = [
        (cls, viewers[cls][n % len(viewers[cls])][0])
        for cls in CLASSES
        if viewers[cls]
        for n in range(max(args.samples, len(viewers[cls])))
    ]
    rnd.shuffle(calls)
    for _, account_id in calls[: args.warmup]:
        await services.moments.feed(actors[account_id])
    first: dict[str, list[float]] = {c: [] for c in CLASSES}
    second: dict[str, list[float]] = {c: [] for c in CLASSES}
    sizes: dict[str, list[int]] = {c: [] for c in CLASSES}
    cpu: dict[str, list[float]] = {c: [] for c in CLASSES}
    cursors: dict[tuple[str, int], str] = {}
    timer = StoreTimer() if args.breakdown else None
    before = load()
    with FullCollections() as collections, timer or contextlib.nullcontext():
        for n, (cls, account_id) in enumerate(calls):
            c0, t0 = time.process_time(), time.perf_counter()
            page = await services.moments.feed(actors[account_id])
            first[cls].append(time.perf_counter() - t0)
            cpu[cls].append(time.process_time() - c0)
            if timer is not None:
                timer.charge(cls, first[cls][-1])
            sizes[cls].append(len(page["items"]))
            if page["next_cursor"]:
                cursors[(account_id, n)] = page["next_cursor"]
        for n, (cls, account_id) in enumerate(calls):
            cursor = cursors.get((account_id, n))
            if cursor is None:
                continue
            t0 = time.perf_counter()
            await services.moments.feed(actors[account_id], before=cursor)
            second[cls].append(time.perf_counter() - t0)
            if timer is not None:
                timer.discard()
    notes = f"GC {gc_mode}: {collections.note()}; {before}"
    rows = latency_rows(viewers, first, second, sizes, cpu, label, data, notes)
    if timer is not None:
        rows += breakdown_rows(timer, label, data, gc_mode)
    return rows


def latency_rows(
    viewers: Viewers,
    first: dict[str, list[float]],
    second: dict[str, list[float]],
    sizes: dict[str, list[int]],
    cpu: dict[str, list[float]],
    label: str,
    data: str,
    notes: str,
) -> list[Row]:
    """Latency per class and page; the first page's also as this process's CPU time per
    call (what a busy machine does not stretch; PostgreSQL's own CPU is not in it)."""
    rows: list[Row] = []
    for page_name, samples in (("first page", first), ("second page", second)):
        for cls in (*CLASSES, "all"):
            classes = CLASSES if cls == "all" else (cls,)
            values = [s for c in classes for s in samples[c]]
            if not values:
                continue
            degrees = [d for c in classes for _, d in viewers[c]]
            items = [n for c in classes for n in sizes[c]]
            who = "all classes" if cls == "all" else CLASS_LABELS[cls]
            goal = ""
            if page_name == "first page":
                spent = [s for c in classes for s in cpu[c]]
                goal = f"CPU p50/p99 {ms(percentile(spent, 50))}/{ms(percentile(spent, 99))}; "
                if cls != "all":
                    ok = percentile(values, 99) * 1000 <= BAR_MS
                    goal = ("met" if ok else "NOT met") + f" (p99 ≤ {BAR_MS:.0f} ms); " + goal
            rows.append(
                (
                    label,
                    data,
                    f"feed, {page_name}",
                    f"{who}: {len(values)} calls, {len(degrees)} viewers, friends median "
                    f"{statistics.median(degrees):,.0f}"
                    + (
                        f", {statistics.mean(items):.0f} posts on the page of {PAGE}"
                        if page_name == "first page"
                        else " (those with a second page)"
                    ),
                    *stats(values),
                    goal + notes,
                )
            )
    return rows


def breakdown_rows(timer: StoreTimer, label: str, data: str, gc_mode: str) -> list[Row]:
    rows: list[Row] = []
    for cls in CLASSES:
        totals = timer.totals[cls]
        if not totals:
            continue
        spent = timer.by_class[cls]
        parts = ", ".join(
            f"{name} {spent[name] / len(totals) * 1000:.1f}"
            for name in StoreTimer.NAMES
            if spent.get(name)
        )
        rest = (sum(totals) - sum(spent.values())) / len(totals) * 1000
        rows.append(
            (
                label,
                data,
                "first page: mean ms per part",
                f"{CLASS_LABELS[cls]}: {parts}; Python and the rest {rest:.1f}",
                ms(statistics.mean(totals)),
                "",
                "",
                "",
                f"GC {gc_mode}; mean, not p50",
            )
        )
    return rows


# ---- posting ----------------------------------------------------------------------------------


async def posting_cost(
    services: Services,
    viewers: Viewers,
    clock: FakeClock,
    args: argparse.Namespace,
    label: str,
    data: str,
) -> tuple[list[Row], dict[str, tuple[str, int]]]:
    authors = {
        "heavy": max(viewers["heavy"], key=lambda v: v[1]),
        "ordinary": min(viewers["ordinary"], key=lambda v: abs(v[1] - 200)),
    }
    engine = raw_engine(services)
    rows: list[Row] = []
    created: list[str] = []
    for cls in ("heavy", "ordinary"):
        actor = await actor_of(services, authors[cls][0])
        times: list[float] = []
        with count_writes(engine) as written:
            for n in range(args.posts_to_create):
                clock.advance(minutes=1)
                t0 = time.perf_counter()
                post = await services.moments.create_post(
                    actor, PostIn(text=f"bench post {n} from a {cls} author")
                )
                times.append(time.perf_counter() - t0)
                created.append(post["id"])
        count = args.posts_to_create
        detail = ", ".join(f"{table} {n / count:g}" for table, n in sorted(written.items()))
        rows.append(
            (
                label,
                data,
                "create_post (fan-out on read)",
                f"author with {authors[cls][1]:,} friends, audience all friends, {count} posts: "
                f"{sum(written.values()) / count:g} rows written per post ({detail})",
                *stats(times),
                "",
            )
        )
    async with services.db.write() as tx:
        await tx.conn.execute(store.posts.delete().where(store.posts.c.id.in_(created)))
    return rows, authors


# ---- fan-out on write, for comparison -------------------------------------------------------


def timeline_table() -> Table:
    return Table(
        TIMELINE,
        MetaData(),
        Column("viewer_id", String(26), primary_key=True),
        Column("post_id", String(26), primary_key=True),
    )


async def build_timelines(
    services: Services, viewers: Viewers, meta: dict[str, Any], days: int
) -> tuple[int, int, float]:
    """A timeline for each sampled viewer: their friends' posts of the last ``days`` days
    (the first page reads only the newest rows of it). Returns (rows, bytes, seconds)."""
    sqlite = services.db.is_sqlite
    since = datetime.fromtimestamp(meta["end_ms"] / 1000, UTC) - timedelta(days=days)
    table, p, f = timeline_table(), store.posts.c, friendships.c
    sample = [a for c in CLASSES for a, _ in viewers[c]]
    t0 = time.perf_counter()
    async with services.db.write() as tx:
        await tx.conn.execute(text(f"DROP TABLE IF EXISTS {TIMELINE}"))
        await tx.conn.execute(
            text(
                f"CREATE TABLE {TIMELINE} (viewer_id VARCHAR(26) NOT NULL, post_id "
                "VARCHAR(26) NOT NULL, PRIMARY KEY (viewer_id, post_id))"
                + (" WITHOUT ROWID" if sqlite else "")
            )
        )
        for start in range(0, len(sample), 50):
            await tx.conn.execute(
                insert(table).from_select(
                    ["viewer_id", "post_id"],
                    select(f.owner_id, p.id)
                    .join(friendships, f.friend_id == p.author_id)
                    .where(f.owner_id.in_(sample[start : start + 50]), p.created_at >= since),
                )
            )
        await tx.conn.execute(text(f"ANALYZE {TIMELINE}"))
    seconds = time.perf_counter() - t0
    async with services.db.read() as conn:
        count = int((await conn.execute(text(f"SELECT count(*) FROM {TIMELINE}"))).scalar_one())  # noqa: S608
        size_sql = (
            "SELECT sum(pgsize) FROM dbstat WHERE name = :t"
            if sqlite
            else "SELECT pg_total_relation_size(:t)"
        )
        size = int((await conn.execute(text(size_sql), {"t": TIMELINE})).scalar_one() or 0)
    return count, size, seconds


async def posts_size(services: Services) -> int:
    async with services.db.read() as conn:
        if services.db.is_sqlite:
            sql = (
                "SELECT sum(pgsize) FROM dbstat WHERE name = 'posts' OR name IN "
                "(SELECT name FROM sqlite_master WHERE tbl_name = 'posts' AND type = 'index')"
            )
        else:
            sql = "SELECT pg_total_relation_size('posts')"
        return int((await conn.execute(text(sql))).scalar_one() or 0)


async def fanout_on_write(
    services: Services,
    viewers: Viewers,
    authors: dict[str, tuple[str, int]],
    meta: dict[str, Any],
    args: argparse.Namespace,
    rnd: random.Random,
    label: str,
    data: str,
) -> list[Row]:
    """What a timeline table of (viewer_id, post_id), written at post time, would cost."""
    moments = services.moments
    rows: list[Row] = []
    try:
        count, size, seconds = await build_timelines(services, viewers, meta, args.timeline_days)
        per_row = size / max(1, count)
        total = meta.get("fanout_rows")
        posts_gib = await posts_size(services) / 2**30
        estimate = (
            f"{total / 1e6:,.0f} M rows for the data set ≈ {total * per_row / 2**30:,.1f} GiB, "
            f"beside {posts_gib:.1f} GiB for posts and their indexes"
            if total
            else "the data set's total: regenerate it (no fanout_rows in its meta)"
        )
        rows.append(
            (
                label,
                data,
                "fan-out on write: storage",
                f"{estimate}; {per_row:.0f} bytes/row measured on {count:,} rows (the sampled "
                f"viewers' last {args.timeline_days} days, built in {seconds:.0f} s)",
                *[""] * 5,
            )
        )
        for cls in ("heavy", "ordinary"):
            author_id, degree = authors[cls]
            actor = await actor_of(services, author_id)
            reach = (await moments.check(actor, CheckIn(text="x")))["audience_count"]
            async with services.db.read() as conn:
                audience = sorted(await store.friends_of(conn, author_id))[:reach]
            samples = []
            for _ in range(args.posts_to_create):
                post_id = "9" + f"{rnd.getrandbits(125):032X}"[:25]
                t0 = time.perf_counter()
                async with services.db.write() as tx:
                    await tx.conn.execute(
                        insert(timeline_table()),
                        [{"viewer_id": v, "post_id": post_id} for v in audience],
                    )
                samples.append(time.perf_counter() - t0)
            rows.append(
                (
                    label,
                    data,
                    "fan-out on write: one post",
                    f"author with {degree:,} friends: {reach:,} timeline rows per post (the "
                    f"composer's audience count) in one transaction, {args.posts_to_create} "
                    f"posts, into a table of {count:,} rows",
                    *stats(samples),
                    "insert only: posts row, audit and the rest come on top",
                )
            )
        query = text(
            f"SELECT p.* FROM {TIMELINE} t JOIN posts p ON p.id = t.post_id "  # noqa: S608
            "WHERE t.viewer_id = :v AND p.deleted_at IS NULL ORDER BY t.post_id DESC LIMIT :n"
        )
        batch = PAGE * 3 + 1  # what the feed asks candidate_posts for first (OVERFETCH)
        for cls in CLASSES:
            timeline: list[float] = []
            candidates: list[float] = []
            for account_id, _ in viewers[cls][: args.query_viewers]:
                async with services.db.read() as conn:
                    world = await moments._world(conn, account_id)
                    by_since = moments._eligible(world, world.friends | {account_id}, feed=True)
                    # Both read the same post rows: each runs once untimed first, so that
                    # neither is timed on pages the other brought into the cache.
                    for _ in range(2):
                        t0 = time.perf_counter()
                        await store.candidate_posts(conn, by_since, before_id=None, limit=batch)
                        t1 = time.perf_counter()
                        (await conn.execute(query, {"v": account_id, "n": batch})).all()
                        t2 = time.perf_counter()
                    candidates.append(t1 - t0)
                    timeline.append(t2 - t1)
            if timeline:
                c50, c99 = percentile(candidates, 50), percentile(candidates, 99)
                rows.append(
                    (
                        label,
                        data,
                        "first page's query: timeline",
                        f"{CLASS_LABELS[cls]}, {len(timeline)} viewers, {batch} rows, warm; "
                        f"fan-out on read's candidate_posts for the same: p50 {ms(c50)}, "
                        f"p99 {ms(c99)} ms",
                        *stats(timeline),
                        "",
                    )
                )
    finally:
        async with services.db.write() as tx:
            await tx.conn.execute(text(f"DROP TABLE IF EXISTS {TIMELINE}"))
    return rows


async def scan_against_author_index(
    services: Services, viewers: Viewers, args: argparse.Namespace, label: str, data: str
) -> list[Row]:
    """For the heavy viewers, the first page's candidate ids read both ways the store knows:
    one range of the author index per friend (what every viewer would get on an instance
    where their friends write a small share of the posts) and the scan of the newest posts."""
    moments = services.moments
    batch = PAGE * 3 + 1
    by_index: list[float] = []
    by_scan: list[float] = []
    for account_id, _ in viewers["heavy"]:
        async with services.db.read() as conn:
            world = await moments._world(conn, account_id)
            by_since = moments._eligible(world, world.friends | {account_id}, feed=True)
            authors = sum(len(group) for group in by_since.values())
            rows = authors * store._SCAN_ROWS_PER_AUTHOR
            for _ in range(2):  # the second round is timed: both warm
                t0 = time.perf_counter()
                await store._ids_by_author(conn, by_since, None, batch)
                t1 = time.perf_counter()
                await store._ids_by_scan(conn, by_since, None, batch, rows)
                t2 = time.perf_counter()
            by_index.append(t1 - t0)
            by_scan.append(t2 - t1)
    if not by_index:
        return []
    return [
        (
            label,
            data,
            "heavy viewer's candidate ids: author index",
            f"{CLASS_LABELS['heavy']}, {len(by_index)} viewers, {batch} ids, warm; the scan of "
            f"the newest posts (what they get) for the same: p50 {ms(percentile(by_scan, 50))}, "
            f"p99 {ms(percentile(by_scan, 99))} ms",
            *stats(by_index),
            "ids only, no rows",
        )
    ]


# ---- one backend ------------------------------------------------------------------------------


BACKEND_LABELS = {"sqlite": "SQLite", "postgres": "PostgreSQL, 1 node"}


async def run_backend(backend: str, args: argparse.Namespace) -> list[Row]:
    url = database_url(backend, args.quick)
    await generate(url, dataset_params(args.quick), force=False)
    label = BACKEND_LABELS[backend]
    rnd = random.Random(args.seed)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="courtyard-bench-") as tmp:
        settings = Settings(database_url=url, data_dir=Path(tmp), migrate_on_start=False)
        clock = FakeClock(datetime(2000, 1, 1, tzinfo=UTC))
        async with build_services(settings, clock=clock) as services:
            meta = await read_meta(services)
            clock.set(datetime.fromtimestamp(meta["end_ms"] / 1000, UTC) + timedelta(minutes=1))
            data = dataset_label(meta)
            CLASS_LABELS["heavy"] = f"heavy ({meta['params']['heavy_friends']:,} friends)"
            viewers = await sample_viewers(services, meta, args.viewers, rnd)
            for gc_mode in args.gc:
                if gc_mode == "frozen":
                    gc.collect()
                    gc.freeze()
                rows += await feed_latency(services, viewers, args, rnd, label, data, gc_mode)
                print_table(rows, args.markdown, file=sys.stderr)  # progress
            gc.unfreeze()
            rows += await scan_against_author_index(services, viewers, args, label, data)
            post_rows, authors = await posting_cost(services, viewers, clock, args, label, data)
            rows += post_rows
            if not args.no_fanout:
                rows += await fanout_on_write(
                    services, viewers, authors, meta, args, rnd, label, data
                )
    return rows


HEADER = (
    "backend",
    "data set",
    "measure",
    "parameters",
    "p50 ms",
    "p95 ms",
    "p99 ms",
    "max ms",
    "goal; notes",
)


def print_table(rows: Sequence[Row], markdown: bool, file: Any = None) -> None:
    _table.print_table(HEADER, rows, markdown, file)


def machine() -> str:
    cpu = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, {load()}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    pg = bool(os.environ.get("COURTYARD_BENCH_POSTGRES_URL"))
    add = parser.add_argument
    add(
        "--backends",
        default="sqlite" + (",postgres" if pg else ""),
        help="sqlite,postgres (default: sqlite, plus PostgreSQL when configured)",
    )
    add("--quick", action="store_true", help="the small data set (5,000 users, 100,000 posts)")
    add("--viewers", type=int, default=200, help="sampled viewers per class (heavy: all)")
    add("--samples", type=int, default=200, help="feed calls per class (viewers repeat)")
    add("--warmup", type=int, default=50, help="unmeasured feed calls first")
    add("--gc", default="default,frozen", help="default,frozen: GC modes to measure the feed in")
    add("--posts-to-create", type=int, default=20, help="posts per author for the posting cost")
    add("--query-viewers", type=int, default=50, help="viewers per class, query comparison")
    add("--timeline-days", type=int, default=30, help="days of timeline built for the sample")
    add("--no-fanout", action="store_true", help="skip the fan-out-on-write comparison")
    add("--breakdown", action="store_true", help="time the store calls inside the feed")
    add("--seed", type=int, default=7)
    add("--markdown", action="store_true", help="print the table as Markdown")
    args = parser.parse_args()
    args.gc = [m.strip() for m in args.gc.split(",") if m.strip()]
    if set(args.gc) - {"default", "frozen"}:
        raise SystemExit("--gc takes default and/or frozen")
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = set(backends) - set(BACKEND_LABELS)
    if unknown:
        raise SystemExit(f"unknown backend: {', '.join(sorted(unknown))}")
    rows: list[Row] = []
    for backend in backends:
        rows += asyncio.run(run_backend(backend, args))
    print(f"machine: {machine()}")
    print_table(rows, args.markdown)


if __name__ == "__main__":
    main()
