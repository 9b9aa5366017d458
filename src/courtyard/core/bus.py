"""The event bus: in-process on one node, Redis pub/sub across many.

The bus carries small wake-ups, not events: realtime events are rows of the durable stream
(``courtyard.realtime``), appended in the writing transaction; after the commit the writer
publishes the new stream position on the channel ``stream`` so every node's tailer reads
it. Anything published about a write goes out from ``Tx.after_commit``, never before.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any, Protocol

log = logging.getLogger(__name__)


class Subscription(Protocol):
    def __aiter__(self) -> AsyncIterator[bytes]: ...
    async def close(self) -> None: ...


class Bus(Protocol):
    async def publish(self, channel: str, payload: bytes) -> None: ...
    async def subscribe(self, channel: str) -> Subscription: ...
    async def close(self) -> None: ...


class _QueueSubscription:
    def __init__(self, bus: InProcessBus, channel: str) -> None:
        self._bus = bus
        self._channel = channel
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=10_000)

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while True:
            item = await self.queue.get()
            if item is None:
                return
            yield item

    async def close(self) -> None:
        self._bus._unsubscribe(self._channel, self)
        # The end marker must get in even when the queue is full, or the reader waits forever.
        while True:
            try:
                self.queue.put_nowait(None)
            except asyncio.QueueFull:
                with contextlib.suppress(asyncio.QueueEmpty):
                    self.queue.get_nowait()  # drop the oldest undelivered event
            else:
                return


class InProcessBus:
    """Delivers to subscribers in this process; a full subscriber queue drops, never blocks."""

    def __init__(self) -> None:
        self._subscribers: dict[str, set[_QueueSubscription]] = defaultdict(set)

    async def publish(self, channel: str, payload: bytes) -> None:
        for sub in list(self._subscribers.get(channel, ())):
            try:
                sub.queue.put_nowait(payload)
            except asyncio.QueueFull:
                log.warning("subscriber on %s is too slow; event dropped from its queue", channel)

    async def subscribe(self, channel: str) -> Subscription:
        sub = _QueueSubscription(self, channel)
        self._subscribers[channel].add(sub)
        return sub

    def _unsubscribe(self, channel: str, sub: _QueueSubscription) -> None:
        subs = self._subscribers.get(channel)
        if subs is not None:
            subs.discard(sub)
            if not subs:  # keep only the channels someone listens to
                del self._subscribers[channel]

    def channel_count(self) -> int:
        """Channels with at least one subscriber."""
        return len(self._subscribers)

    async def close(self) -> None:
        for subs in list(self._subscribers.values()):
            for sub in list(subs):
                await sub.close()


class _RedisSubscription:
    def __init__(self, pubsub: Any) -> None:
        self._pubsub = pubsub

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for message in self._pubsub.listen():
            if message.get("type") == "message":
                data = message["data"]
                yield data if isinstance(data, bytes) else str(data).encode()

    async def close(self) -> None:
        await self._pubsub.aclose()


class RedisBus:
    """Redis pub/sub, so that an event committed on one node reaches sockets on every node."""

    def __init__(self, url: str) -> None:
        import redis.asyncio as redis

        self._client = redis.Redis.from_url(url)

    async def ping(self) -> bool:
        return bool(await self._client.ping())

    async def publish(self, channel: str, payload: bytes) -> None:
        await self._client.publish(channel, payload)

    async def subscribe(self, channel: str) -> Subscription:
        pubsub = self._client.pubsub()
        await pubsub.subscribe(channel)
        return _RedisSubscription(pubsub)

    async def close(self) -> None:
        await self._client.aclose()
