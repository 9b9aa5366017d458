"""Data set for bench/moments.py: a seeded social graph and a year of Moments, written straight
into a database (SQLite file or PostgreSQL) with bulk inserts.

What it writes (the issue's numbers are the defaults; ``--quick`` is 5,000 users and 100,000
posts for smoke runs):

- ``--users`` accounts, inserted as rows with one dummy password hash (nobody logs in: the
  benchmark calls the service in-process);
- friendships, both rows of each pair, from a configuration model over a skewed degree
  sequence: most accounts draw a log-normal degree scaled so that the mean is ``--avg-friends``
  (capped at 2,000), ``--few-share`` of them have 0 to 5 friends, and ``--heavy`` accounts
  have ``--heavy-friends`` (5,000; topped up to that after pairing, a fifth of the users
  with ``--quick``);
- labels for a third of the accounts with ten friends or more (1 to 4 each, 3 to 40 members
  drawn from their friends);
- Moments permissions on ``--perm-share`` of the friendships (hide mine, hide theirs, chat
  only) and a history window for ``--window-share`` of the accounts (3 days, a month, six
  months, or "all" set explicitly);
- ``--posts`` posts with ULID ids (48-bit milliseconds + 80 random bits, so id order is time
  order) spread uniformly over ``--days`` days up to the end time, by authors drawn from a
  skewed activity (a sixth never post; the heavy accounts post three times as often); the
  audience mix is 80 % friends, 6 % private, 8 % "only" and 6 % "except" (labels, frozen or
  following, or a few named friends), 2 % carry a schedule that makes them private after three
  days, 1 % are deleted, 40 % have images (their descriptors only: no media is written);
- likes (``--likes``, mean per post) and comments (``--comments``, mean per post, a fifth of
  them replies) by the author's friends.

The schema comes from the project's migrations (``courtyard.core.migrate.ensure_schema``).
Secondary indexes are dropped before loading and created from the table definitions in the
stores afterwards (so an index added in a store is there even before its migration exists);
rows go in primary-key order; foreign keys are not checked during the load (PostgreSQL:
``session_replication_role = replica``). PostgreSQL tables are then VACUUM ANALYZEd, as
autovacuum would do; SQLite is left without statistics, as a Courtyard server leaves it.

The parameters and the end time are kept in a table ``bench_moments_meta``; running again
with the same parameters on a complete database does nothing (``--force`` rebuilds), so
``make bench`` does not pay for the generation twice.

    python bench/moments_data.py                           # var/bench/moments.db, full size
    python bench/moments_data.py --quick --database sqlite:////tmp/m.db
    python bench/moments_data.py --database postgresql+asyncpg://postgres@127.0.0.1/courtyard_bench_moments
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import random
import sqlite3
import sys
import time
from array import array
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.schema import CreateIndex

from courtyard.accounts.store import accounts
from courtyard.contacts.store import contact_label_members, contact_labels, friendships
from courtyard.core import json
from courtyard.core.db import Database
from courtyard.core.migrate import ensure_schema
from courtyard.moments.store import (
    moments_permissions,
    moments_settings,
    post_comments,
    post_likes,
    posts,
)

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE = f"sqlite:///{ROOT / 'var' / 'bench' / 'moments.db'}"
META_TABLE = "bench_moments_meta"
TABLES: tuple[Table, ...] = (
    accounts,
    friendships,
    contact_labels,
    contact_label_members,
    moments_settings,
    moments_permissions,
    posts,
    post_likes,
    post_comments,
)
DUMMY_HASH = "$argon2id$v=19$m=65536,t=3,p=2$YmVuY2htYXJrLWR1bW15$bm90IGEgcmVhbCBoYXNoIGF0IGFsbA"
DAY_MS = 86_400_000
Record = tuple[Any, ...]
BATCH = 50_000
_WORDS = (
    "今天 天气 真好 周末 去 爬山 了 和 朋友 一起 吃饭 新 开 的 咖啡店 推荐 大家 孩子 第一次 "
    "上学 加班 到 很晚 终于 完成 项目 生日 快乐 旅行 海边 日落 美食 健身 打卡 读书 分享 "
    "good morning weekend hiking with friends coffee new place finally done happy birthday "
    "trip beach sunset dinner gym reading sharing photos family home rain city lights"
)
WORDS = tuple(_WORDS.split())

# ---- ids and values ---------------------------------------------------------------------------

_B32_TO_CROCKFORD = bytes.maketrans(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", b"0123456789ABCDEFGHJKMNPQRSTVWXYZ"
)


def ulid(ms: int, rnd: random.Random) -> str:
    """A ULID (Crockford base32 of 48-bit ms + 80 random bits), as courtyard.core.ids makes."""
    return ulid_of(ms, rnd.getrandbits(79))


def ulid_of(ms: int, random_part: int) -> str:
    value = (ms << 80) | random_part
    # 130 bits (2 leading zero bits + 128) = 26 characters; 6 trailing zero bits pad to 17 bytes.
    raw = base64.b32encode((value << 6).to_bytes(17, "big"))[:26]
    return raw.translate(_B32_TO_CROCKFORD).decode()


class Values:
    """Column values as each backend's bulk path takes them."""

    def __init__(self, backend: str) -> None:
        self.sqlite = backend == "sqlite"

    def ts(self, ms: int) -> Any:
        dt = datetime.fromtimestamp(ms / 1000, UTC)
        if self.sqlite:  # SQLAlchemy's SQLite DATETIME text, UTC, no offset
            return dt.replace(tzinfo=None).isoformat(" ", "microseconds")
        return dt

    def flag(self, value: bool) -> Any:
        return int(value) if self.sqlite else value

    @staticmethod
    def doc(value: Any) -> str:
        return json.dumps_str(value)


# ---- parameters -------------------------------------------------------------------------------


@dataclass
class Params:
    users: int = 100_000
    avg_friends: float = 200.0
    heavy: int = 20
    heavy_friends: int = 5_000
    few_share: float = 0.03
    max_friends: int = 2_000
    posts: int = 2_000_000
    days: int = 365
    likes: float = 1.5
    comments: float = 0.4
    label_share: float = 0.33
    perm_share: float = 0.02
    window_share: float = 0.05
    seed: int = 1
    end_ms: int = field(default=0)

    def key(self) -> dict[str, Any]:
        """What identifies the data set (the end time does not)."""
        return {k: v for k, v in asdict(self).items() if k != "end_ms"}


# ---- the social graph -------------------------------------------------------------------------


@dataclass
class Graph:
    ids: list[str]
    created_ms: list[int]
    start: array  # type: ignore[type-arg]  # CSR offsets into ``flat``
    flat: array  # type: ignore[type-arg]  # friend indexes, sorted per account
    heavy: list[int]
    few: list[int]
    labels: dict[int, list[tuple[str, list[int]]]] = field(default_factory=dict)

    def degree(self, i: int) -> int:
        return int(self.start[i + 1] - self.start[i])

    def friends(self, i: int) -> Sequence[int]:
        return self.flat[self.start[i] : self.start[i + 1]]

    @property
    def edges(self) -> int:
        return len(self.flat)


def make_accounts(p: Params, rnd: random.Random) -> tuple[list[str], list[int]]:
    """Ids in creation order, so index order is id order (rows go in primary-key order)."""
    first = p.end_ms - 3 * 365 * DAY_MS
    step = max(1, (p.end_ms - 400 * DAY_MS - first) // max(1, p.users))
    created = [first + i * step + rnd.randrange(step) // 2 for i in range(p.users)]
    return [ulid(ms, rnd) for ms in created], created


def degrees(p: Params, rnd: random.Random) -> tuple[list[int], list[int], list[int]]:
    n = p.users
    order = list(range(n))
    rnd.shuffle(order)
    heavy = sorted(order[: p.heavy])
    few = sorted(order[p.heavy : p.heavy + int(n * p.few_share)])
    deg = [0] * n
    for i in heavy:
        deg[i] = p.heavy_friends
    for i in few:
        deg[i] = rnd.randint(0, 5)
    rest = order[p.heavy + len(few) :]
    target = p.avg_friends * n - sum(deg)
    sigma = 0.8
    draws = [rnd.lognormvariate(0.0, sigma) for _ in rest]
    # Scale (a few rounds, because of the cap) so that the stubs add up to the target mean.
    scale = target / max(1.0, sum(draws))
    for _ in range(6):
        total = sum(min(p.max_friends, d * scale) for d in draws)
        scale *= target / max(1.0, total)
    for i, d in zip(rest, draws, strict=True):
        deg[i] = max(6, min(p.max_friends, round(d * scale)))
    return deg, heavy, few


def make_graph(p: Params, rnd: random.Random) -> Graph:
    ids, created = make_accounts(p, rnd)
    deg, heavy, few = degrees(p, rnd)
    stubs: list[int] = []
    for i, d in enumerate(deg):
        stubs.extend([i] * d)
    rnd.shuffle(stubs)
    n = p.users
    keys: list[int] = []
    append = keys.append
    partners: dict[int, set[int]] = {h: set() for h in heavy}
    for a, b in zip(stubs[0::2], stubs[1::2], strict=False):
        if a != b:
            append(a * n + b)
            append(b * n + a)
            if a in partners:
                partners[a].add(b)
            if b in partners:
                partners[b].add(a)
    del stubs
    # Pairing stubs at random repeats some of a heavy account's partners: top them up to
    # exactly their degree with accounts drawn uniformly.
    for h in heavy:
        while len(partners[h]) < deg[h]:
            x = rnd.randrange(n)
            if x != h and x not in partners[h]:
                partners[h].add(x)
                if x in partners:
                    partners[x].add(h)
                append(h * n + x)
                append(x * n + h)
    keys.sort()
    start = array("q", [0]) * (n + 1)
    flat = array("i")
    last = -1
    for key in keys:
        if key == last:
            continue
        last = key
        owner, friend = divmod(key, n)
        flat.append(friend)
        start[owner + 1] += 1
    del keys
    for i in range(n):
        start[i + 1] += start[i]
    return Graph(ids, created, start, flat, heavy, few)


def make_labels(p: Params, g: Graph, rnd: random.Random) -> None:
    for i in range(p.users):
        deg = g.degree(i)
        if deg < 10 or rnd.random() >= p.label_share:
            continue
        friends = g.friends(i)
        own = []
        for _ in range(rnd.randint(1, 4)):
            members = sorted(rnd.sample(friends, min(deg, rnd.randint(3, 40))))
            own.append(("", members))
        g.labels[i] = own


# ---- writers ----------------------------------------------------------------------------------


class Writer:
    backend = ""

    async def rows(
        self, table: str, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]
    ) -> None:
        raise NotImplementedError

    async def execute(self, sql: str) -> None:
        raise NotImplementedError

    async def fetch(self, sql: str) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    async def secondary_indexes(self, table: str) -> list[str]:
        raise NotImplementedError

    async def commit(self) -> None:
        pass

    async def close(self) -> None:
        pass


class SQLiteWriter(Writer):
    backend = "sqlite"

    def __init__(self, path: str) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None)
        for pragma in (
            "journal_mode=OFF",
            "synchronous=OFF",
            "cache_size=-1000000",
            "locking_mode=EXCLUSIVE",
            "foreign_keys=OFF",
        ):
            self.conn.execute(f"PRAGMA {pragma}")
        self.conn.execute("BEGIN")

    async def rows(
        self, table: str, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]
    ) -> None:
        marks = ",".join("?" * len(columns))
        cols = ",".join(f'"{c}"' for c in columns)
        sql = f'INSERT INTO "{table}" ({cols}) VALUES ({marks})'  # noqa: S608 - our names
        self.conn.executemany(sql, rows)

    async def execute(self, sql: str) -> None:
        self.conn.execute(sql)

    async def fetch(self, sql: str) -> list[tuple[Any, ...]]:
        return list(self.conn.execute(sql))

    async def secondary_indexes(self, table: str) -> list[str]:
        rows = self.conn.execute(
            "SELECT name FROM sqlite_master WHERE type='index' AND tbl_name=? AND sql IS NOT NULL",
            (table,),
        )
        return [r[0] for r in rows]

    async def commit(self) -> None:
        self.conn.execute("COMMIT")
        self.conn.execute("BEGIN")

    async def close(self) -> None:
        self.conn.execute("COMMIT")
        self.conn.execute("PRAGMA locking_mode=NORMAL")
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.close()


class PostgresWriter(Writer):
    backend = "postgresql"

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    @classmethod
    async def open(cls, url: str) -> PostgresWriter:
        conn = await asyncpg.connect(url)
        await conn.execute("SET session_replication_role = replica")  # no FK triggers
        await conn.execute("SET maintenance_work_mem = '512MB'")
        await conn.execute("SET synchronous_commit = off")
        return cls(conn)

    async def rows(
        self, table: str, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]
    ) -> None:
        await self.conn.copy_records_to_table(table, records=rows, columns=list(columns))

    async def execute(self, sql: str) -> None:
        await self.conn.execute(sql)

    async def fetch(self, sql: str) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in await self.conn.fetch(sql)]

    async def secondary_indexes(self, table: str) -> list[str]:
        rows = await self.conn.fetch(
            """
            SELECT i.relname FROM pg_index x
            JOIN pg_class i ON i.oid = x.indexrelid
            JOIN pg_class t ON t.oid = x.indrelid
            WHERE t.relname = $1 AND t.relnamespace = 'public'::regnamespace
              AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)
            """,
            table,
        )
        return [r[0] for r in rows]

    async def close(self) -> None:
        await self.conn.close()


def pg_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def ensure_pg_database(url: str, force: bool) -> None:
    """Create the named database on its server if it is missing (``--force``: drop it first)."""
    base, name = pg_dsn(url).rsplit("/", 1)
    admin = await asyncpg.connect(f"{base}/postgres")
    try:
        exists = await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if exists and force:
            await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            exists = None
        if not exists:
            await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()


def sqlite_path(url: str) -> str:
    return url.split("///", 1)[1]


# ---- the load ---------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.t0 = time.perf_counter()
        self.last = self.t0
        self.steps: list[tuple[str, float, int]] = []

    def step(self, name: str, rows: int = 0) -> None:
        now = time.perf_counter()
        self.steps.append((name, now - self.last, rows))
        rate = f"  {rows / (now - self.last):>10,.0f} rows/s" if rows else ""
        print(f"  {name:<38} {now - self.last:7.1f} s  {rows:>12,} rows{rate}", flush=True)
        self.last = now

    @property
    def total(self) -> float:
        return time.perf_counter() - self.t0


async def batched(
    w: Writer, table: Table, columns: Sequence[str], rows: Iterable[tuple[Any, ...]]
) -> int:
    count = 0
    batch: list[tuple[Any, ...]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= BATCH:
            await w.rows(table.name, columns, batch)
            count += len(batch)
            batch = []
    if batch:
        await w.rows(table.name, columns, batch)
        count += len(batch)
    await w.commit()
    return count


def account_rows(g: Graph, v: Values) -> Iterator[tuple[Any, ...]]:
    for i, (aid, ms) in enumerate(zip(g.ids, g.created_ms, strict=True)):
        ts = v.ts(ms)
        yield (aid, f"u{i:06d}", f"User {i}", "", DUMMY_HASH, "active", "none", ts, ts)


def friendship_rows(g: Graph, v: Values) -> Iterator[tuple[Any, ...]]:
    ids = g.ids
    for i in range(len(ids)):
        owner = ids[i]
        ts = v.ts(g.created_ms[i] + DAY_MS)
        for j in g.friends(i):
            yield (owner, ids[j], ts)


def label_rows(
    p: Params, g: Graph, v: Values, rnd: random.Random
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    labels: list[tuple[Any, ...]] = []
    members: list[tuple[Any, ...]] = []
    base = p.end_ms - 500 * DAY_MS
    for owner in sorted(g.labels):
        own = []
        for n, (_, people) in enumerate(g.labels[owner]):
            ms = base + owner * 97 + n  # increasing in (owner, n): ids go in key order
            label_id = ulid(ms, rnd)
            own.append((label_id, people))
            name = f"Label {n + 1}"
            labels.append((label_id, g.ids[owner], name, name.casefold(), v.ts(ms)))
            members.extend((label_id, g.ids[f], g.ids[owner]) for f in people)
        g.labels[owner] = own
    labels.sort()
    members.sort()
    return labels, members


def settings_rows(p: Params, g: Graph, v: Values, rnd: random.Random) -> list[tuple[Any, ...]]:
    rows = []
    windows = ("3d", "1m", "6m", "all")
    weights = (0.2, 0.3, 0.3, 0.2)
    for i in range(p.users):
        if rnd.random() < p.window_share:
            window = rnd.choices(windows, weights)[0]
            rows.append((g.ids[i], window, v.doc([])))
    return rows


def permission_rows(
    p: Params, g: Graph, v: Values, rnd: random.Random
) -> Iterator[tuple[Any, ...]]:
    for i in range(p.users):
        deg = g.degree(i)
        count = int(deg * p.perm_share + rnd.random())
        if not count:
            continue
        for j in sorted(rnd.sample(g.friends(i), min(deg, count))):
            kind = rnd.random()
            yield (
                g.ids[i],
                g.ids[j],
                v.flag(kind < 0.4),
                v.flag(0.4 <= kind < 0.8),
                v.flag(kind >= 0.8),
            )


def audience_doc(
    kind: str, labels: Sequence[str] = (), accounts_: Sequence[str] = (), mode: str = "frozen",
    frozen: Sequence[str] = (),
) -> dict[str, Any]:  # fmt: skip
    return {
        "kind": kind,
        "labels": sorted(labels),
        "accounts": sorted(accounts_),
        "mode": mode,
        "frozen_members": sorted(frozen),
    }


def reach_of(g: Graph, author: int, audience: dict[str, Any]) -> int:
    """Friends a post reaches (before per-friend permissions and windows): the timeline rows
    fan-out on write would write for it."""
    kind = audience["kind"]
    deg = g.degree(author)
    if kind == "private":
        return 0
    if kind == "friends":
        return deg
    named = set(audience["accounts"]) | set(audience["frozen_members"])
    if audience["mode"] == "follow":
        members = dict(g.labels.get(author, ()))
        for label in audience["labels"]:
            named.update(g.ids[f] for f in members.get(label, ()))
    return len(named) if kind == "only" else deg - len(named)


def choose_audience(g: Graph, author: int, rnd: random.Random) -> dict[str, Any]:
    roll = rnd.random()
    deg = g.degree(author)
    if roll < 0.80 or deg == 0:
        return audience_doc("friends")
    if roll < 0.86:
        return audience_doc("private")
    kind = "only" if roll < 0.94 else "except"
    own = g.labels.get(author)
    if own and rnd.random() < 0.75:
        chosen = rnd.sample(own, min(len(own), rnd.randint(1, 2)))
        mode = "frozen" if rnd.random() < 0.8 else "follow"
        frozen: set[str] = set()
        if mode == "frozen":
            for _, people in chosen:
                frozen.update(g.ids[f] for f in people)
        return audience_doc(kind, [label for label, _ in chosen], (), mode, sorted(frozen))
    named = rnd.sample(g.friends(author), min(deg, rnd.randint(1, 10)))
    return audience_doc(kind, (), [g.ids[f] for f in named])


def image_docs(rnd: random.Random, post_ms: int) -> list[dict[str, Any]]:
    if rnd.random() >= 0.4:
        return []
    out = []
    for _ in range(rnd.choice((1, 1, 1, 2, 3, 4, 9))):
        key = f"{rnd.getrandbits(128):032x}"
        out.append(
            {
                "id": ulid(post_ms, rnd),
                "key": key,
                "thumb_key": key[::-1],
                "width": 1080,
                "height": 1440,
                "content_type": "image/jpeg",
            }
        )
    return out


def post_text(rnd: random.Random) -> str:
    return " ".join(rnd.choices(WORDS, k=rnd.randint(3, 25)))


def activity(p: Params, g: Graph, rnd: random.Random) -> list[float]:
    weights = []
    heavy = set(g.heavy)
    for i in range(p.users):
        if rnd.random() < 1 / 6:
            weights.append(0.0)
            continue
        w = rnd.lognormvariate(0.0, 1.2)
        weights.append(w * 3 if i in heavy else w)
    return weights


def interactions(
    p: Params,
    g: Graph,
    v: Values,
    rnd: random.Random,
    post_id: str,
    author: int,
    ms: int,
    likes: list[Record],
    comments: list[Record],
) -> None:
    """Likes and comments on one post by the author's friends (a fifth of the comments are
    the author's replies)."""
    deg = g.degree(author)
    if not deg:
        return
    friends = g.friends(author)
    k = min(deg, int(rnd.expovariate(1 / p.likes))) if p.likes > 0 else 0
    if k:
        likers = sorted(g.ids[f] for f in rnd.sample(friends, k))
        like_ts = v.ts(ms + 60_000)
        likes.extend((post_id, liker, like_ts) for liker in likers)
    c = 0
    while rnd.random() < p.comments / (1 + p.comments):  # geometric, mean p.comments
        c += 1
    previous: list[str] = []
    for m in range(c):
        cms = ms + 120_000 * (m + 1)
        cid = ulid(cms, rnd)
        reply_to = None
        if previous and rnd.random() < 0.2:
            reply_to = rnd.choice(previous)
            commenter = author
        else:
            commenter = friends[rnd.randrange(deg)]
        comment = (cid, post_id, g.ids[commenter], post_text(rnd), reply_to, v.ts(cms))
        comments.append((*comment, None, None))
        previous.append(cid)


async def load_graph(
    p: Params, g: Graph, v: Values, w: Writer, rnd: random.Random, clock: Clock
) -> None:
    """Accounts, friendships, labels, windows and permissions."""
    n = await batched(
        w,
        accounts,
        [
            "id", "handle", "display_name", "bio", "password_hash", "state",
            "verification_level", "created_at", "updated_at",
        ],
        account_rows(g, v),
    )  # fmt: skip
    clock.step("accounts", n)
    n = await batched(
        w, friendships, ["owner_id", "friend_id", "created_at"], friendship_rows(g, v)
    )
    clock.step("friendships (both rows)", n)
    labels, members = label_rows(p, g, v, rnd)
    n = await batched(
        w, contact_labels, ["id", "owner_id", "name", "name_key", "created_at"], labels
    )
    n += await batched(w, contact_label_members, ["label_id", "friend_id", "owner_id"], members)
    clock.step("labels + members", n)
    n = await batched(
        w, moments_settings, ["account_id", "window", "sensitive_labels"],
        settings_rows(p, g, v, rnd),
    )  # fmt: skip
    n += await batched(
        w,
        moments_permissions,
        ["owner_id", "friend_id", "hide_my_moments", "hide_their_moments", "chat_only"],
        permission_rows(p, g, v, rnd),
    )
    clock.step("windows + permissions", n)


async def load_posts(
    p: Params, g: Graph, v: Values, w: Writer, rnd: random.Random, clock: Clock
) -> int:
    """Posts, likes and comments; returns the timeline rows fan-out on write would hold."""
    first = p.end_ms - p.days * DAY_MS
    times = sorted(rnd.randrange(first, p.end_ms) for _ in range(p.posts))
    authors = rnd.choices(range(p.users), weights=activity(p, g, rnd), k=p.posts)
    post_cols = [
        "id", "author_id", "created_at", "text", "images", "location", "audience",
        "schedule", "remind", "labels", "comments_close_at", "edited_at", "deleted_at",
        "client_key",
    ]  # fmt: skip
    like_cols = ["post_id", "account_id", "created_at"]
    comment_cols = [
        "id", "post_id", "author_id", "text", "reply_to_id", "created_at", "deleted_at",
        "deleted_by",
    ]  # fmt: skip
    comments: list[tuple[Any, ...]] = []
    likes_total = 0
    empty = v.doc([])
    last_ms, last_r = -1, 0
    fanout = 0
    post_batch: list[tuple[Any, ...]] = []
    like_batch: list[tuple[Any, ...]] = []
    for n in range(p.posts):
        ms = times[n]
        author = authors[n]
        # Within one millisecond the random part counts up (monotonic ULIDs): key order.
        r = last_r + 1 + rnd.getrandbits(32) if ms == last_ms else rnd.getrandbits(79)
        last_ms, last_r = ms, r
        post_id = ulid_of(ms, r)
        audience = choose_audience(g, author, rnd)
        schedule = None
        if audience["kind"] != "private" and rnd.random() < 0.02:
            at = datetime.fromtimestamp((ms + 3 * DAY_MS) / 1000, UTC).isoformat()
            schedule = v.doc([{"at": at, "audience": audience_doc("private")}])
        location = v.doc({"name": "Somewhere"}) if rnd.random() < 0.1 else None
        deleted = v.ts(ms + 3_600_000) if rnd.random() < 0.01 else None
        if deleted is None:
            fanout += reach_of(g, author, audience)
        created = v.ts(ms)
        post_batch.append(
            (
                post_id, g.ids[author], created, post_text(rnd), v.doc(image_docs(rnd, ms)),
                location, v.doc(audience), schedule, empty, empty, None, None, deleted, None,
            )
        )  # fmt: skip
        interactions(p, g, v, rnd, post_id, author, ms, like_batch, comments)
        if len(post_batch) >= BATCH:
            await w.rows("posts", post_cols, post_batch)
            await w.rows("post_likes", like_cols, like_batch)
            likes_total += len(like_batch)
            post_batch, like_batch = [], []
    await w.rows("posts", post_cols, post_batch)
    await w.rows("post_likes", like_cols, like_batch)
    likes_total += len(like_batch)
    await w.commit()
    clock.step("posts + likes", p.posts + likes_total)
    comments.sort()
    count = await batched(w, post_comments, comment_cols, comments)
    clock.step("comments", count)
    return fanout


def create_index_sql(backend: str) -> list[tuple[str, str]]:
    dialect: Dialect = (
        sqlite.dialect() if backend == "sqlite" else postgresql.dialect()  # type: ignore[no-untyped-call]
    )
    out = []
    for table in TABLES:
        for index in sorted(table.indexes, key=lambda i: str(i.name)):
            out.append((str(index.name), str(CreateIndex(index).compile(dialect=dialect))))
    return out


async def existing_meta(url: str) -> dict[str, Any] | None:
    try:
        if url.startswith("sqlite"):
            path = sqlite_path(url)
            if not os.path.exists(path):  # noqa: ASYNC240 - a one-off check before loading
                return None
            conn = sqlite3.connect(path)
            try:
                rows = list(conn.execute(f"SELECT key, value FROM {META_TABLE}"))  # noqa: S608
            finally:
                conn.close()
        else:
            pg = await asyncpg.connect(pg_dsn(url))
            try:
                sql = f"SELECT key, value FROM {META_TABLE}"  # noqa: S608
                rows = [tuple(r) for r in await pg.fetch(sql)]
            finally:
                await pg.close()
    except Exception:
        return None
    return {k: json.loads(v) for k, v in rows}


async def open_writer(url: str) -> Writer:
    if url.startswith("sqlite"):
        return SQLiteWriter(sqlite_path(url))
    return await PostgresWriter.open(pg_dsn(url))


async def sync_indexes(url: str) -> None:
    """Make an existing data set's secondary indexes those the stores declare now (an index
    added or dropped in a store since it was generated), so that it need not be rebuilt."""
    w = await open_writer(url)
    try:
        wanted = dict(create_index_sql(w.backend))
        for table in TABLES:
            for name in await w.secondary_indexes(table.name):
                if name not in wanted:
                    print(f"  dropping index {name} (no longer declared)", flush=True)
                    await w.execute(f'DROP INDEX "{name}"')
        present = {n for t in TABLES for n in await w.secondary_indexes(t.name)}
        for name, sql in wanted.items():
            if name not in present:
                print(f"  creating index {name} (declared since the data set was made)", flush=True)
                await w.execute(sql)
                if w.backend == "postgresql":
                    await w.commit()
                    await w.execute(f"ANALYZE {sql.split(' ON ', 1)[1].split()[0]}")
        await w.commit()
    finally:
        await w.close()


async def generate(url: str, p: Params, *, force: bool) -> dict[str, Any]:
    """Build the data set at ``url`` unless it is already there with these parameters."""
    meta = await existing_meta(url)
    if meta and meta.get("complete") and meta.get("params") == p.key() and not force:
        print(f"{url}: already generated with these parameters (--force rebuilds)")
        await sync_indexes(url)
        return meta
    p.end_ms = p.end_ms or int(time.time() * 1000)
    print(f"generating into {url}: {p.key()}", flush=True)
    clock = Clock()
    if url.startswith("sqlite"):
        path = Path(sqlite_path(url))
        path.parent.mkdir(parents=True, exist_ok=True)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)  # noqa: ASYNC240
    else:
        await ensure_pg_database(url, force=True)
    db = Database(url)
    try:
        await ensure_schema(db, migrate=True)
    finally:
        await db.dispose()
    clock.step("schema (migrations)")
    w = await open_writer(url)
    v = Values(w.backend)
    rnd = random.Random(p.seed)
    try:
        await w.execute(f"CREATE TABLE {META_TABLE} (key VARCHAR(40) PRIMARY KEY, value TEXT)")
        await w.rows(META_TABLE, ["key", "value"], [("params", json.dumps_str(p.key()))])
        await w.commit()
        for table in TABLES:
            for name in await w.secondary_indexes(table.name):
                await w.execute(f'DROP INDEX "{name}"')
        await w.commit()
        g = make_graph(p, rnd)
        make_labels(p, g, rnd)
        clock.step("graph (in memory)", g.edges)
        await load_graph(p, g, v, w, rnd, clock)
        fanout = await load_posts(p, g, v, w, rnd, clock)
        for name, sql in create_index_sql(w.backend):
            await w.execute(sql)
            await w.commit()
            clock.step(f"index {name}")
        if w.backend == "postgresql":
            await w.execute("SET session_replication_role = origin")
            for table in TABLES:
                await w.execute(f'VACUUM ANALYZE "{table.name}"')
            clock.step("vacuum analyze")
        summary = {
            "complete": True,
            "params": p.key(),
            "end_ms": p.end_ms,
            "heavy": [g.ids[i] for i in g.heavy],
            "seconds": round(clock.total, 1),
            "edges": g.edges,
            "fanout_rows": fanout,
        }
        for key in ("complete", "end_ms", "heavy", "seconds", "edges", "fanout_rows"):
            await w.rows(META_TABLE, ["key", "value"], [(key, json.dumps_str(summary[key]))])
        await w.commit()
    finally:
        await w.close()
    print(f"done in {clock.total:.0f} s", flush=True)
    return summary


def size_of(url: str) -> str:
    if url.startswith("sqlite"):
        size = sum(
            os.path.getsize(f"{sqlite_path(url)}{s}")
            for s in ("", "-wal")
            if os.path.exists(f"{sqlite_path(url)}{s}")
        )
        return f"{size / 2**30:.2f} GiB"
    return "(see pg_database_size)"


def parse(argv: Sequence[str] | None = None) -> tuple[argparse.Namespace, Params]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    d = Params()
    add = parser.add_argument
    add(
        "--database", default=DEFAULT_DATABASE, help="sqlite:///path or postgresql+asyncpg://…/name"
    )
    add("--quick", action="store_true", help="5,000 users, 100,000 posts (smoke run)")
    add("--users", type=int, default=None)
    add("--avg-friends", type=float, default=d.avg_friends)
    add("--heavy", type=int, default=d.heavy, help="accounts with --heavy-friends friends")
    add("--heavy-friends", type=int, default=d.heavy_friends)
    add("--few-share", type=float, default=d.few_share, help="share with 0-5 friends")
    add("--posts", type=int, default=None)
    add("--days", type=int, default=d.days)
    add("--likes", type=float, default=d.likes, help="mean likes per post")
    add("--comments", type=float, default=d.comments, help="mean comments per post")
    add("--perm-share", type=float, default=d.perm_share)
    add("--window-share", type=float, default=d.window_share)
    add("--seed", type=int, default=d.seed)
    add("--force", action="store_true", help="rebuild even if already generated")
    args = parser.parse_args(argv)
    quick = args.quick
    users = args.users or (5_000 if quick else d.users)
    p = Params(
        users=users,
        avg_friends=args.avg_friends,
        heavy=min(args.heavy, users // 10),
        # At 5,000 users a 5,000-friend account would know everyone: a fifth instead.
        heavy_friends=min(args.heavy_friends, users // 5),
        few_share=args.few_share,
        posts=args.posts or (100_000 if quick else d.posts),
        days=args.days,
        likes=args.likes,
        comments=args.comments,
        perm_share=args.perm_share,
        window_share=args.window_share,
        seed=args.seed,
    )
    if p.avg_friends * 2 > users:
        raise SystemExit("--avg-friends must be well below --users")
    return args, p


def main(argv: Sequence[str] | None = None) -> None:
    args, p = parse(argv)
    asyncio.run(generate(args.database, p, force=args.force))
    print(f"size on disk: {size_of(args.database)}")


if __name__ == "__main__":
    main(sys.argv[1:])
