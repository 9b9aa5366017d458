"""SQLite WAL checkpoints in a thread of their own, off every commit's path.

In WAL mode a commit appends its pages to the log; a checkpoint later copies them into the
database file. By default the connection whose commit takes the log past 1,000 pages runs the
checkpoint inside that commit: several milliseconds of copying and an fsync of the database
file, once every few chat batches. The chat writer commits on the event loop's thread (a
thread hand-off per commit cost more CPU than the commit itself under load), so such a
checkpoint would stall every socket on the node. Here commits never checkpoint
(``wal_autocheckpoint=0`` on every connection) and this thread does: every ``interval``
seconds while commits keep coming, and once a commit asks again after it has caught up.

PASSIVE checkpoints neither wait for nor block readers and writers; sqlite3 releases the GIL
while SQLite copies, so the copying runs beside the loop. Durability does not depend on them:
a commit is on disk once its log pages are (``synchronous=FULL``), and SQLite replays the log
after a crash. The last connection to close checkpoints what is left.
"""

from __future__ import annotations

import logging
import sqlite3
import threading

log = logging.getLogger(__name__)

DEFAULT_INTERVAL = 0.05
THREAD_NAME = "courtyard-wal-checkpoint"


class WalCheckpointer:
    def __init__(self, path: str, *, interval: float = DEFAULT_INTERVAL) -> None:
        self.path = path
        self.interval = interval
        self.checkpoints = 0  # completed checkpoint calls
        self._requested = 0  # pokes so far
        self._covered = 0  # pokes that a completed checkpoint came after
        self._wanted = threading.Event()
        self._stopped = threading.Event()
        self._done = threading.Condition()
        self._thread: threading.Thread | None = None

    def poke(self) -> None:
        """A commit happened: checkpoint soon. Cheap enough to call after every commit."""
        if self._thread is None:
            thread = threading.Thread(target=self._run, name=THREAD_NAME, daemon=True)
            thread.start()  # if it cannot, the next poke tries again
            self._thread = thread
        self._requested += 1
        self._wanted.set()

    def wait_for_checkpoint(self, timeout: float) -> bool:
        """Until a checkpoint begun after this call has finished: everything committed before
        the call is then in the database file, unless a reader's snapshot still needed it."""
        self.poke()
        target = self._requested
        with self._done:
            return self._done.wait_for(lambda: self._covered >= target, timeout)

    def stop(self) -> None:
        thread = self._thread
        if thread is None:
            return
        self._stopped.set()
        self._wanted.set()
        thread.join(timeout=10)
        self._thread = None

    def _run(self) -> None:
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error:
            log.exception("the WAL checkpointer could not open %s", self.path)
            return
        caught_up = True
        try:
            while True:
                # While commits keep coming, checkpoint every ``interval`` without waiting to
                # be asked. Woken by a commit at every turn instead, the chat benchmark's server
                # (bench/chat.py, 4,000 messages/s) used 5 % more CPU and its ack p99 rose from
                # 45 to 64 ms: the thread then takes the GIL from the loop mid-batch.
                if caught_up:
                    self._wanted.wait()
                if self._stopped.wait(self.interval):  # let more commits join this one
                    return
                self._wanted.clear()
                covered = self._requested
                try:
                    _, logged, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                    caught_up = logged == copied and covered == self._requested
                except sqlite3.Error as exc:  # the next commit asks again
                    log.warning("WAL checkpoint failed: %s", exc)
                    caught_up = True
                with self._done:
                    self.checkpoints += 1
                    self._covered = covered
                    self._done.notify_all()
        finally:
            conn.close()
