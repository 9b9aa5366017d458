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
# Told an item's fate once its transaction has committed (or failed).
Done = Callable[[Result | BaseException], None]


class GroupCommitter(Generic[Item, Result]):
    def __init__(
        self,
        write_batch: BatchWriter[Item, Result],
        *,
        max_batch: int = 512,
        linger: float = 0.005,
    ) -> None:
        self._write_batch = write_batch
        self._max_batch = max_batch
        self._linger = linger
        self._queue: list[tuple[Item, Done[Result]]] = []
        # When the oldest queued item arrived (loop time), for the linger's deadline.
        self._oldest = 0.0
        self._ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._grown = asyncio.Event()
        self._last_size = 0
        # For tests and benchmarks: transactions written, and the items in them.
        self.batches = 0
        self.items = 0

    @property
    def backlog(self) -> int:
        """Items queued behind the batch being written."""
        return len(self._queue)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="chats-group-commit")

    async def stop(self) -> None:
        """Finish the batch being written, write what is queued, then stop: every caller
        hears back, and nothing acknowledged is cut off half-written."""
        task = self._task
        if task is None:
            return
        self._stopping = True
        self._ready.set()
        try:
            await task
        finally:
            self._task = None
            self._stopping = False

    async def submit(self, item: Item) -> Result:
        """Queue ``item``; returns its result once its transaction has committed."""
        if self._task is None:
            # Not started (the CLI, a test without a lifespan): write it on its own.
            results = await self._write_batch([item])
            return _unwrap(results[0])
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()

        def done(result: Result | BaseException) -> None:
            if future.done():  # the caller went away (cancelled); the write stands
                return
            if isinstance(result, BaseException):
                future.set_exception(result)
            else:
                future.set_result(result)

        self._enqueue(item, done)
        return await future

    def submit_nowait(self, item: Item, done: Done[Result]) -> None:
        """Queue ``item``; ``done`` is called with its result (or error) after the commit.

        No task and no future per item: a WebSocket send costs a list append here.
        """
        if self._task is None:
            asyncio.get_running_loop().create_task(self._write([(item, done)]))
            return
        self._enqueue(item, done)

    def _enqueue(self, item: Item, done: Done[Result]) -> None:
        queue = self._queue
        if not queue:
            self._oldest = asyncio.get_running_loop().time()
            self._ready.set()
        queue.append((item, done))
        if len(queue) == self._max_batch:  # a full batch need not wait out the linger
            self._grown.set()

    def _take(self) -> list[tuple[Item, Done[Result]]]:
        batch = self._queue[: self._max_batch]
        del self._queue[: self._max_batch]
        if self._queue:
            self._oldest = asyncio.get_running_loop().time()  # they waited at least this long
        else:
            self._ready.clear()
        return batch

    async def _run(self) -> None:
        while True:
            await self._ready.wait()
            if not self._stopping:
                await self._gather()
            batch = self._take()
            if batch:
                await self._write(batch)
            if self._stopping and not self._queue:
                return

    async def _gather(self) -> None:
        """Under load, let the batch fill for up to ``linger`` seconds after its oldest send
        arrived before writing it.

        Each transaction has a fixed cost (statements, commit, waking the receivers' sockets)
        of one to a few milliseconds, so small batches at a high rate cost more CPU than large
        ones and a server at 80 % of its maximum would saturate. When the last batch held
        more than one send, this one waits for the queue to fill or for the oldest queued send
        to have waited ``linger`` (sends that queued while the previous batch was written have
        already waited, so they are not held a full linger more); when traffic is light it
        only lets same-turn sends join, so a lone message is written at once. Nothing wakes
        this per queued send: only a full batch or the deadline.
        """
        if self._last_size <= 1:
            await asyncio.sleep(0)
            return
        remaining = self._oldest + self._linger - asyncio.get_running_loop().time()
        if remaining <= 0 or len(self._queue) >= self._max_batch:
            return
        self._grown.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(remaining):
                await self._grown.wait()

    async def _write(self, batch: list[tuple[Item, Done[Result]]]) -> None:
        self._last_size = len(batch)
        self.batches += 1
        self.items += len(batch)
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
            for _, done in batch:
                _tell(done, exc)
            return
        for (_, done), result in zip(batch, results, strict=True):
            _tell(done, result)


def _tell(done: Done[Result], result: Result | BaseException) -> None:
    try:
        done(result)
    except Exception:  # one caller's broken callback must not stop the others hearing
        log.exception("a send's completion callback failed")


def _unwrap(result: Result | BaseException) -> Result:
    if isinstance(result, BaseException):
        raise result
    return result
