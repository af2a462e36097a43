"""WAL checkpoints beside the writer, so that no commit waits for one.

SQLite's automatic checkpoint runs inside the commit that crosses ``wal_autocheckpoint``
pages (1,000 by default): that commit copies the WAL into the database and syncs both files
(two fsyncs, ~8 ms on the benchmark machine), and every write queued behind it waits: a
1,000-long chain of tasks saw a ~10 ms step every ~130 commits.

Here a ``PASSIVE`` checkpoint runs on the checkpointer's own connection, in its own thread,
after every ``EVERY_ROWS`` rows written and once the writer has been quiet for
``QUIET_S``: it never blocks the writer or readers. SQLite starts the WAL over at the next
write once everything in it has been copied, so between bursts of work the WAL goes back
to the start (and ``journal_size_limit`` trims the file). During a burst that never
pauses, the writer's own automatic checkpoint at ``SAFETY_PAGES`` bounds the WAL (one
stall per ~40 MB written).

Durability is unchanged: commits are in the WAL either way (``synchronous=NORMAL``), and
the WAL is synced by every checkpoint, now more often than SQLite's default would.
"""

from __future__ import annotations

import asyncio
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from typing import Final

SAFETY_PAGES: Final = 10_000
"""The writer's ``wal_autocheckpoint``: only reached while the writer never pauses."""
SIZE_LIMIT: Final = 16 << 20
"""The writer's ``journal_size_limit``: the WAL file is trimmed to this when it restarts."""
EVERY_ROWS: Final = 4000
"""Rows between checkpoints while the writer is busy. A checkpoint's fsyncs slow the
commits beside it for a few ms (the file system, not a lock): few large ones disturb the
engine's chain less than many small ones (measured: p99 0.6-1.8 ms instead of 0.7-4 ms)."""
QUIET_S: Final = 0.05


def _open(path: str, busy_ms: int) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout = {busy_ms}")
    return conn


def _checkpoint(conn: sqlite3.Connection) -> tuple[int, int, int]:
    busy, log, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    return int(busy), int(log), int(copied)


class Checkpointer:
    """Passive WAL checkpoints in a thread of their own, started by the writer's commits."""

    def __init__(
        self,
        path: str,
        *,
        busy_ms: int,
        every_rows: int = EVERY_ROWS,
        quiet_s: float = QUIET_S,
    ) -> None:
        self._path = path
        self._busy_ms = busy_ms
        self._every_rows = every_rows
        self._quiet_s = quiet_s
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="store-checkpoint")
        self._conn: sqlite3.Connection | None = None
        self._running: asyncio.Future[tuple[int, int, int]] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._rows = 0
        self._commits = 0
        self.checkpoints = 0
        """How many checkpoints were started (for tests and benchmarks)."""
        self.last: tuple[int, int, int] | None = None
        """The last checkpoint's (busy, frames in the WAL, frames copied)."""

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            self._conn = await loop.run_in_executor(self._thread, _open, self._path, self._busy_ms)
        except BaseException:
            self._thread.shutdown(wait=False)
            raise

    @property
    def running(self) -> bool:
        return self._running is not None and not self._running.done()

    def after_commit(self, rows: int, *, idle: bool) -> None:
        """The writer committed ``rows`` rows; ``idle``: nothing else is queued."""
        self._rows += rows
        self._commits += 1
        if self._rows >= self._every_rows:
            self._start()
        elif idle and self._timer is None and self._conn is not None:
            self._watch(self._commits)

    def _watch(self, commits: int) -> None:
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(self._quiet_s, self._quiet, commits)

    def _quiet(self, commits: int) -> None:
        """``QUIET_S`` after an idle commit: copy the rest if nothing was written since."""
        self._timer = None
        if self._conn is None:
            return
        if self._commits != commits:
            self._watch(self._commits)  # still writing now and then: look again later
        elif self._rows:
            self._start()

    def _start(self) -> None:
        if self._conn is None or self.running:
            return  # the running one's end looks again
        self._rows = 0
        self.checkpoints += 1
        loop = asyncio.get_running_loop()
        self._running = loop.run_in_executor(self._thread, _checkpoint, self._conn)
        self._running.add_done_callback(self._done)

    def _done(self, future: asyncio.Future[tuple[int, int, int]]) -> None:
        if future.cancelled() or future.exception() is not None:
            return  # busy or failing: a later commit starts the next one
        self.last = future.result()
        if self._rows >= self._every_rows:
            self._start()
        elif self._rows and self._timer is None and self._conn is not None:
            self._watch(self._commits)

    async def close(self) -> None:
        """Wait for a running checkpoint, then close the connection and the thread."""
        conn, self._conn = self._conn, None  # no new checkpoint from here on
        if self._timer is not None:
            self._timer.cancel()
        if self._running is not None:
            await asyncio.wait([self._running])
        if conn is not None:
            await asyncio.get_running_loop().run_in_executor(self._thread, conn.close)
        self._thread.shutdown(wait=True)
