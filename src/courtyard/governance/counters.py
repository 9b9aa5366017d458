"""Counters for rules: sums and distinct counts over sliding windows.

Rules ask "how many messages did this author send in the last 10 minutes" or "to how many
distinct recipients in the last hour". One ``apply`` call increments and reads in one round
trip, since the chat send path calls it once per message.

Semantics. An increment made at time ``t`` counts in a read over ``W`` seconds at ``now``
when ``now - W < t <= now`` (reads include the increments of the same call).

- ``MemoryCounters`` is exact.
- ``DatabaseCounters`` and ``RedisCounters`` (sums) keep fixed buckets of
  ``g = max(1, window_seconds // 60)`` seconds, where ``window_seconds`` is the op's (the
  longest window the key is read over). A bucket is identified by its END, so a read sums
  the buckets ending after ``now - W`` without knowing their width: it never misses an
  increment inside the window and may include ones up to ``g`` seconds older, i.e.
  ``exact(W) <= value <= exact(W + g)``. Reads over windows longer than the op's window may
  miss increments whose buckets have expired.
- ``RedisCounters`` distinct counts are exact (a sorted set of member → last time seen);
  ``DatabaseCounters`` distinct counts are bucketed like sums.
"""

from __future__ import annotations

import hashlib
import math
from bisect import bisect_right, insort
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from courtyard.core.db import Conn, Database
from courtyard.governance import store

MAX_KEY_LENGTH = 200
MAX_MEMBER_LENGTH = 64  # counter_members.member; longer members are stored as their SHA-256
PRUNE_EVERY_SECONDS = 60
BUCKETS_PER_WINDOW = 60


@dataclass(frozen=True, slots=True)
class CounterOp:
    """An increment of ``key`` (or, with ``member``, adding a member to its set)."""

    key: str
    window_seconds: int  # the longest window this key is ever read over (sets retention)
    amount: int = 1
    member: str | None = None  # set: a distinct-count counter (amount is ignored)


@dataclass(frozen=True, slots=True)
class CounterRead:
    key: str
    window_seconds: int
    distinct: bool = False

    @property
    def name(self) -> str:
        """The key of this read's value in the result of ``apply``."""
        return f"{self.key}@{self.window_seconds}{'#' if self.distinct else ''}"


class Counters(Protocol):
    async def apply(
        self,
        ops: Sequence[CounterOp],
        reads: Sequence[CounterRead],
        *,
        now: datetime,
        conn: Conn | None = None,
    ) -> dict[str, int]:
        """Apply increments, then read (reads include the increments just made)."""
        ...

    async def close(self) -> None: ...


def bucket_seconds(window_seconds: int) -> int:
    """The bucket width for a key kept for ``window_seconds``: about 60 buckets a window."""
    return max(1, window_seconds // BUCKETS_PER_WINDOW)


def bucket_end(timestamp: float, window_seconds: int) -> int:
    """The end (exclusive, epoch seconds) of the bucket holding ``timestamp``."""
    width = bucket_seconds(window_seconds)
    return (math.floor(timestamp / width) + 1) * width


def _check(ops: Sequence[CounterOp], reads: Sequence[CounterRead]) -> None:
    items: list[CounterOp | CounterRead] = [*ops, *reads]
    for item in items:
        if not item.key or len(item.key) > MAX_KEY_LENGTH:
            raise ValueError(f"counter key must be 1-{MAX_KEY_LENGTH} characters: {item.key!r}")
        if item.window_seconds < 1:
            raise ValueError(f"counter window must be at least 1 second: {item!r}")


# ---- memory --------------------------------------------------------------------------------


@dataclass(slots=True)
class _Series:
    """Increments of one key in time order, with prefix sums for O(log n) window sums."""

    times: list[float] = field(default_factory=list)
    prefix: list[int] = field(default_factory=lambda: [0])  # prefix[i] = sum of the first i
    members: dict[str, float] = field(default_factory=dict)  # member → last time added
    retention: int = 0

    def add(self, t: float, amount: int) -> None:
        if self.times and t < self.times[-1]:  # out of order (rare): rebuild the prefix sums
            amounts = [b - a for a, b in zip(self.prefix, self.prefix[1:], strict=False)]
            pairs = list(zip(self.times, amounts, strict=True))
            insort(pairs, (t, amount))
            self.times = [p[0] for p in pairs]
            self.prefix = [self.prefix[0]]
            for _, value in pairs:
                self.prefix.append(self.prefix[-1] + value)
            return
        self.times.append(t)
        self.prefix.append(self.prefix[-1] + amount)

    def total_after(self, start: float) -> int:
        index = bisect_right(self.times, start)
        return self.prefix[-1] - self.prefix[index]

    def distinct_after(self, start: float) -> int:
        return sum(1 for seen in self.members.values() if seen > start)

    def prune(self, now: float) -> None:
        start = now - self.retention
        index = bisect_right(self.times, start)
        if index:
            del self.times[:index]
            del self.prefix[:index]
        if self.members:
            self.members = {m: seen for m, seen in self.members.items() if seen > start}


class MemoryCounters:
    """Exact, in-process counters: ``policy test``, the benchmark and the engine's unit tests."""

    def __init__(self) -> None:
        self._series: dict[str, _Series] = {}
        self._last_prune = -math.inf

    async def apply(
        self,
        ops: Sequence[CounterOp],
        reads: Sequence[CounterRead],
        *,
        now: datetime,
        conn: Conn | None = None,
    ) -> dict[str, int]:
        _check(ops, reads)
        t = now.timestamp()
        for op in ops:
            series = self._series.get(op.key)
            if series is None:
                series = self._series[op.key] = _Series()
            series.retention = max(series.retention, op.window_seconds)
            if op.member is not None:
                series.members[op.member] = max(t, series.members.get(op.member, t))
            else:
                series.add(t, op.amount)
        result: dict[str, int] = {}
        for read in reads:
            found = self._series.get(read.key)
            start = t - read.window_seconds
            if found is None:
                result[read.name] = 0
            elif read.distinct:
                result[read.name] = found.distinct_after(start)
            else:
                result[read.name] = found.total_after(start)
        if t - self._last_prune >= PRUNE_EVERY_SECONDS:
            self._last_prune = t
            self._prune(t)
        return result

    def _prune(self, t: float) -> None:
        for key in list(self._series):
            series = self._series[key]
            series.prune(t)
            if not series.times and not series.members:
                del self._series[key]

    async def close(self) -> None:
        self._series.clear()


# ---- database ------------------------------------------------------------------------------


def _member(member: str) -> str:
    if len(member) <= MAX_MEMBER_LENGTH:
        return member
    return hashlib.sha256(member.encode()).hexdigest()


class DatabaseCounters:
    """Counters in ``counter_buckets`` / ``counter_members`` when Redis is not configured.

    ``apply`` runs in the caller's transaction when given ``conn`` (chats calls it inside its
    batched write), so an increment commits or rolls back with the write that caused it.
    """

    def __init__(self, db: Database) -> None:
        self._db = db
        self._last_prune = -math.inf

    async def apply(
        self,
        ops: Sequence[CounterOp],
        reads: Sequence[CounterRead],
        *,
        now: datetime,
        conn: Conn | None = None,
    ) -> dict[str, int]:
        _check(ops, reads)
        if conn is not None:
            return await self._apply(conn, ops, reads, now)
        if ops:
            async with self._db.write() as tx:
                return await self._apply(tx.conn, ops, reads, now)
        async with self._db.read() as read_conn:
            return await self._apply(read_conn, ops, reads, now)

    async def _apply(
        self, conn: Conn, ops: Sequence[CounterOp], reads: Sequence[CounterRead], now: datetime
    ) -> dict[str, int]:
        t = now.timestamp()
        sums: dict[tuple[str, int], list[int]] = {}  # (key, bucket) → [value, expires_at]
        members: dict[tuple[str, int, str], int] = {}  # (key, bucket, member) → expires_at
        for op in ops:
            end = bucket_end(t, op.window_seconds)
            expires = end + op.window_seconds
            if op.member is not None:
                member_key = (op.key, end, _member(op.member))
                members[member_key] = max(expires, members.get(member_key, expires))
            else:
                entry = sums.setdefault((op.key, end), [0, expires])
                entry[0] += op.amount
                entry[1] = max(entry[1], expires)
        await store.add_counter_buckets(
            conn,
            [
                {"key": key, "bucket": end, "value": value, "expires_at": expires}
                for (key, end), (value, expires) in sums.items()
            ],
        )
        await store.add_counter_members(
            conn,
            [
                {"key": key, "bucket": end, "member": member, "expires_at": expires}
                for (key, end, member), expires in members.items()
            ],
        )
        # A bucket counts when it ends after the window's start; buckets are whole seconds,
        # so "end > t - W" is "end > floor(t - W)".
        values = await store.read_counters(
            conn, [(r.key, math.floor(t - r.window_seconds), r.distinct) for r in reads]
        )
        if ops and t - self._last_prune >= PRUNE_EVERY_SECONDS:
            self._last_prune = t
            await store.prune_counters(conn, math.floor(t))
        return {read.name: value for read, value in zip(reads, values, strict=True)}

    async def prune(self, now: datetime) -> int:
        """Delete expired buckets now (``apply`` also does it, at most once a minute)."""
        async with self._db.write() as tx:
            return await store.prune_counters(tx.conn, math.floor(now.timestamp()))

    async def close(self) -> None:
        return None


# ---- redis ---------------------------------------------------------------------------------

# One script per apply: one round trip, and the server does the bucket bookkeeping. Sums are
# a hash per key (field = bucket end, value = sum); distinct counts a sorted set per key
# (member → last time seen). KEYS: the ops' keys, then the reads'. ARGV: the number of ops,
# then 5 arguments per op and 2 per read (see ``RedisCounters._arguments``).
_SCRIPT = """
local n_ops = tonumber(ARGV[1])
local a = 2
for i = 1, n_ops do
  local key = KEYS[i]
  local kind = ARGV[a]
  if kind == 's' then
    redis.call('HINCRBY', key, ARGV[a + 1], ARGV[a + 2])
    redis.call('EXPIRE', key, ARGV[a + 3])
    if redis.call('HLEN', key) > 128 then
      local stale = tonumber(ARGV[a + 4])
      local fields = redis.call('HKEYS', key)
      for _, f in ipairs(fields) do
        if tonumber(f) <= stale then redis.call('HDEL', key, f) end
      end
    end
  else
    redis.call('ZADD', key, 'GT', ARGV[a + 1], ARGV[a + 2])
    redis.call('ZREMRANGEBYSCORE', key, '-inf', ARGV[a + 4])
    redis.call('EXPIRE', key, ARGV[a + 3])
  end
  a = a + 5
end
local out = {}
for j = n_ops + 1, #KEYS do
  local key = KEYS[j]
  local kind = ARGV[a]
  local start = ARGV[a + 1]
  if kind == 's' then
    local total = 0
    local threshold = tonumber(start)
    local flat = redis.call('HGETALL', key)
    for k = 1, #flat, 2 do
      if tonumber(flat[k]) > threshold then total = total + tonumber(flat[k + 1]) end
    end
    out[#out + 1] = total
  else
    out[#out + 1] = redis.call('ZCOUNT', key, '(' .. start, '+inf')
  end
  a = a + 2
end
return out
"""

REDIS_PREFIX = "cy:ctr:"


class RedisCounters:
    """Counters shared by every node, in Redis (``EVALSHA`` of one script per apply)."""

    def __init__(self, redis_url: str, *, prefix: str = REDIS_PREFIX) -> None:
        import redis.asyncio as redis

        self._client = redis.Redis.from_url(redis_url)
        self._script: Any = self._client.register_script(_SCRIPT)
        self._prefix = prefix

    def _keys_and_arguments(
        self, ops: Sequence[CounterOp], reads: Sequence[CounterRead], t: float
    ) -> tuple[list[str], list[str | int]]:
        keys: list[str] = []
        args: list[str | int] = [len(ops)]
        for op in ops:
            ttl = op.window_seconds + bucket_seconds(op.window_seconds) + 1
            if op.member is None:
                keys.append(f"{self._prefix}s:{op.key}")
                end = bucket_end(t, op.window_seconds)
                args += ["s", end, op.amount, ttl, math.floor(t - op.window_seconds)]
            else:
                keys.append(f"{self._prefix}d:{op.key}")
                args += ["d", repr(t), op.member, ttl, repr(t - op.window_seconds)]
        for read in reads:
            kind = "d" if read.distinct else "s"
            keys.append(f"{self._prefix}{kind}:{read.key}")
            args += [kind, repr(t - read.window_seconds)]
        return keys, args

    async def apply(
        self,
        ops: Sequence[CounterOp],
        reads: Sequence[CounterRead],
        *,
        now: datetime,
        conn: Conn | None = None,
    ) -> dict[str, int]:
        _check(ops, reads)
        if not ops and not reads:
            return {}
        keys, args = self._keys_and_arguments(ops, reads, now.timestamp())
        values = await self._script(keys=keys, args=args)
        return {read.name: int(value) for read, value in zip(reads, values, strict=True)}

    async def ping(self) -> bool:
        return bool(await self._client.ping())

    async def close(self) -> None:
        await self._client.aclose()


def build_counters(settings_redis_url: str | None, db: Database) -> Counters:
    """Redis when configured (shared by every node), the database otherwise."""
    if settings_redis_url:
        return RedisCounters(settings_redis_url)
    return DatabaseCounters(db)
