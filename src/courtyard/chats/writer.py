"""Group commit for message sends: many sends, one transaction, one fsync.

SQLite with ``synchronous=FULL`` pays one fsync per commit (~0.4 ms here) and PostgreSQL one
WAL flush; a transaction per message would cap a node at a few thousand messages per second
before any other work. Sends therefore queue here; one task takes everything queued (up to
``max_batch``), runs it through ``write_batch`` in one transaction and resolves each sender's
future only after that commit. While a batch is being written the next one accumulates, so
the batch size follows the load: one message when idle, hundreds under pressure.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

Item = TypeVar("Item")
Result = TypeVar("Result")

# Given the batch, returns one result or one exception per item (same order). Raising means
# the transaction failed and nothing in it was written.
BatchWriter = Callable[[Sequence[Item]], Awaitable[list[Result | BaseException]]]


class GroupCommitter(Generic[Item, Result]):
    def __init__(self, write_batch: BatchWriter[Item, Result], *, max_batch: int = 512) -> None:
        self._write_batch = write_batch
        self._max_batch = max_batch
        self._queue: list[tuple[Item, asyncio.Future[Result]]] = []
        self._ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.batches = 0  # for tests and benchmarks: how many transactions were written

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="chats-group-commit")

    async def stop(self) -> None:
        """Write what is queued, then stop."""
        task, self._task = self._task, None
        if task is None:
            return
        while self._queue:
            await self._write(self._take())
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def submit(self, item: Item) -> Result:
        """Queue ``item``; returns its result once its transaction has committed."""
        if self._task is None:
            # Not started (the CLI, a test without a lifespan): write it on its own.
            results = await self._write_batch([item])
            return _unwrap(results[0])
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._queue.append((item, future))
        self._ready.set()
        return await future

    def _take(self) -> list[tuple[Item, asyncio.Future[Result]]]:
        batch = self._queue[: self._max_batch]
        del self._queue[: self._max_batch]
        if not self._queue:
            self._ready.clear()
        return batch

    async def _run(self) -> None:
        while True:
            await self._ready.wait()
            # Let sends that arrived in the same loop turn join this batch.
            await asyncio.sleep(0)
            batch = self._take()
            if batch:
                await self._write(batch)

    async def _write(self, batch: list[tuple[Item, asyncio.Future[Result]]]) -> None:
        self.batches += 1
        try:
            results = await self._write_batch([item for item, _ in batch])
        except Exception as exc:  # the transaction failed: nothing in it was written
            if len(batch) > 1:
                # One bad item (a race on a retried send's id) must not fail its neighbours:
                # write each alone.
                log.warning("a batch of %d sends failed; writing them one by one", len(batch))
                for entry in batch:
                    await self._write([entry])
                return
            log.exception("a send could not be written")
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, future), result in zip(batch, results, strict=True):
            if future.done():  # the sender went away (cancelled); the write stands
                continue
            if isinstance(result, BaseException):
                future.set_exception(result)
            else:
                future.set_result(result)


def _unwrap(result: Result | BaseException) -> Result:
    if isinstance(result, BaseException):
        raise result
    return result
