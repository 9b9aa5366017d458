"""The group committer behind every send: batches that follow the load, a bad item that never
fails its neighbours, a stop that loses nothing, and dense seqs under concurrency."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest

from courtyard.chats.writer import GroupCommitter
from courtyard.container import Services
from tests.chats.conftest import befriend, me
from tests.conftest import UserFactory


class Recorder:
    """A batch writer that doubles numbers, refuses 13 as an item and fails a whole batch
    holding a negative number (as a transaction with a bad row would)."""

    def __init__(self, delay: float = 0.0) -> None:
        self.batches: list[list[int]] = []
        self.delay = delay
        self.writing = asyncio.Event()

    async def __call__(self, batch: Sequence[int]) -> list[int | BaseException]:
        self.batches.append(list(batch))
        self.writing.set()
        if self.delay:
            await asyncio.sleep(self.delay)
        if any(item < 0 for item in batch):
            raise RuntimeError("the transaction failed")
        return [ValueError("13") if item == 13 else item * 2 for item in batch]


async def test_concurrent_submits_share_batches() -> None:
    writer = Recorder(delay=0.001)
    committer: GroupCommitter[int, int] = GroupCommitter(writer, max_batch=64)
    committer.start()
    try:
        results = await asyncio.gather(*(committer.submit(n) for n in range(100, 300)))
    finally:
        await committer.stop()
    assert results == [n * 2 for n in range(100, 300)]
    assert committer.items == 200
    assert committer.batches == len(writer.batches) < 20
    assert max(len(b) for b in writer.batches) <= 64
    assert sorted(n for b in writer.batches for n in b) == list(range(100, 300))


async def test_a_refused_item_and_a_failed_batch_do_not_fail_neighbours() -> None:
    writer = Recorder()
    committer: GroupCommitter[int, int] = GroupCommitter(writer)
    committer.start()
    try:
        results = await asyncio.gather(
            *(committer.submit(n) for n in [1, 13, -1, 2, 3]), return_exceptions=True
        )
    finally:
        await committer.stop()
    assert results[0] == 2
    assert isinstance(results[1], ValueError)
    assert isinstance(results[2], RuntimeError)
    assert results[3:] == [4, 6]
    # The failed batch was retried one item at a time.
    assert [-1] in writer.batches


async def test_without_start_each_submit_is_written_alone() -> None:
    writer = Recorder()
    committer: GroupCommitter[int, int] = GroupCommitter(writer)
    assert await committer.submit(4) == 8
    with pytest.raises(ValueError, match="13"):
        await committer.submit(13)
    await committer.stop()  # never started: nothing to do
    assert writer.batches == [[4], [13]]


async def test_stop_drains_the_queue() -> None:
    writer = Recorder(delay=0.01)
    committer: GroupCommitter[int, int] = GroupCommitter(writer, max_batch=4)
    committer.start()
    pending = [asyncio.ensure_future(committer.submit(n)) for n in range(10)]
    await asyncio.sleep(0)  # queued, nothing written yet
    await asyncio.sleep(0)
    await committer.stop()
    queued = [n for b in writer.batches for n in b]
    assert sorted(queued) == list(range(10))
    done = await asyncio.wait_for(asyncio.gather(*pending), 2)
    assert done == [n * 2 for n in range(10)]


async def test_stop_answers_the_batch_being_written() -> None:
    writer = Recorder(delay=0.05)
    committer: GroupCommitter[int, int] = GroupCommitter(writer, max_batch=4)
    committer.start()
    pending = [asyncio.ensure_future(committer.submit(n)) for n in range(4)]
    await writer.writing.wait()  # the run task has taken all four and is writing them
    await committer.stop()  # nothing left in the queue: stop cancels the write
    done = await asyncio.wait_for(asyncio.gather(*pending), 2)
    assert done == [n * 2 for n in range(4)]


async def test_concurrent_sends_get_dense_seqs(make_user: UserFactory, services: Services) -> None:
    alice = await make_user("alice")
    others = [await make_user(name) for name in ("bob", "carol", "dave")]
    for other in others:
        await befriend(alice, other)
    group = await alice.create_group("Busy", [me(o)["id"] for o in others])
    senders = [alice, *others]
    before = services.chats.batches_written
    results = await asyncio.gather(
        *(
            senders[n % len(senders)].send_message(group["id"], f"m{n}", client_id=f"c{n}")
            for n in range(200)
        )
    )
    assert sorted(r["seq"] for r in results) == list(range(1, 201))
    assert len({r["id"] for r in results}) == 200
    assert services.chats.batches_written - before < 200
    history = []
    after = 0
    while True:
        page = await alice.messages(group["id"], after=after, limit=100)
        history += page["items"]
        if page["next_cursor"] is None:
            break
        after = int(page["next_cursor"])
    assert [m["seq"] for m in history] == list(range(1, 201))
    by_id = {r["id"]: r["seq"] for r in results}
    assert all(by_id[m["id"]] == m["seq"] for m in history)
    assert (await alice.conversation(group["id"]))["last_seq"] == 200


async def test_the_linger_counts_from_the_oldest_send_and_a_full_batch_goes_at_once() -> None:
    """Under load a batch waits for more sends, but never longer than the linger after its
    oldest send arrived: sends that queued while the previous batch was being written have
    waited already. A full batch does not wait at all."""
    write = 0.3
    writer = Recorder(delay=write)  # a slow transaction: the next sends queue meanwhile
    linger = 0.6
    committer: GroupCommitter[int, int] = GroupCommitter(writer, max_batch=4, linger=linger)
    committer.start()
    loop = asyncio.get_running_loop()
    try:
        await asyncio.gather(committer.submit(1), committer.submit(2))  # load: batches > 1
        writer.writing.clear()
        first = asyncio.gather(committer.submit(3), committer.submit(4))
        await writer.writing.wait()  # (3, 4) is being written after waiting out its linger
        queued_at = loop.time()
        late = asyncio.ensure_future(committer.submit(5))  # queues during that write
        await first
        await late
        waited = loop.time() - queued_at
        # From its arrival: the rest of that write and what is left of the linger (0.6 in
        # all), then its own write: 0.9 s. Counting the linger from the end of the previous
        # write would hold it 1.2 s.
        assert waited < 2 * write + linger - 0.15, waited
        assert writer.batches[-1] == [5]
        started = loop.time()
        full = await asyncio.gather(*(committer.submit(n) for n in (6, 7, 8, 9)))
        assert full == [12, 14, 16, 18]
        assert writer.batches[-1] == [6, 7, 8, 9]
        assert loop.time() - started < linger  # written as soon as it was full
    finally:
        await committer.stop()


async def test_backlog_counts_what_waits_behind_the_batch_being_written() -> None:
    writer = Recorder(delay=0.05)
    committer: GroupCommitter[int, int] = GroupCommitter(writer, max_batch=4, linger=0)
    committer.start()
    try:
        first = asyncio.ensure_future(committer.submit(1))
        await writer.writing.wait()
        assert committer.backlog == 0
        rest = [asyncio.ensure_future(committer.submit(n)) for n in range(2, 8)]
        await asyncio.sleep(0)
        assert committer.backlog == 6
        assert await asyncio.gather(first, *rest) == [n * 2 for n in range(1, 8)]
        assert committer.backlog == 0
    finally:
        await committer.stop()


async def test_send_transactions_commit_inline_alone_or_batched(
    make_user: UserFactory, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The send transaction commits on the loop's thread (no thread hand-off, whose cost
    under load was more than the commit's), a lone send as much as a batch; both write the
    same."""
    alice, bob = await make_user("alice"), await make_user("bob")
    await befriend(alice, bob)
    direct = await alice.open_direct(me(bob)["id"])
    seen: list[bool] = []
    write = services.db.write

    def recording_write(*, commit_inline: bool = False) -> Any:
        seen.append(commit_inline)
        return write(commit_inline=commit_inline)

    monkeypatch.setattr(services.db, "write", recording_write)
    monkeypatch.setattr(services.chats._sends, "_max_batch", 50)  # 300 sends: several batches
    await alice.send_message(direct["id"], "alone", client_id="alone")
    assert seen == [True]
    results = await asyncio.gather(
        *(alice.send_message(direct["id"], f"m{n}", client_id=f"c{n}") for n in range(300))
    )
    assert len(seen) >= 7, seen  # batches of at most 50
    assert all(seen), seen
    assert sorted(r["seq"] for r in results) == list(range(2, 302))
    page = await bob.messages(direct["id"], after=0, limit=100)
    assert page["items"][0]["text"] == "alone"
    assert [m["seq"] for m in page["items"]] == list(range(1, 101))
