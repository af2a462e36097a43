"""Group commit: one writer turns many concurrent writes into few transactions.

Every write is queued with a Future. The writer takes everything queued (up to
``max_batch``), runs it in one ``BEGIN IMMEDIATE`` ... ``COMMIT`` and only then resolves the
futures, so a caller's ``await`` returns once ITS write is committed, and a state anyone can
observe (CLI, logs written after the await) is never ahead of the file. While one batch
commits the next one fills up; there is no timer and no added latency when idle.

The transaction runs in the writer's own thread, on its own ``sqlite3`` connection, as one
call: one hand-over between the event loop and the thread per batch (aiosqlite would take
one per statement, ``BEGIN`` and ``COMMIT`` included).

Writes are made of entries: a SQL statement and its parameters, or a record and the codec
function that turns it into parameters, called when the batch is prepared (so a record
whose row is superseded in the same batch is never encoded). An entry with a key is an
upsert of the whole row: when a later write in the same batch upserts the same key with the
same SQL, the earlier row is skipped, since the later one replaces it in the same
transaction anyway. That is how a fast task's "running" rows and its final rows, queued
together, cost one row each.

Ordering: statements with the same SQL keep their queue order (they go through one
``executemany``); kinds of statement are applied in the order they first appear in the
batch; a counted write (whose caller needs a rowcount, e.g. an insert that may conflict)
flushes everything queued before it. Writes that one caller awaits in sequence are always
in order, because the second is queued only after the first has committed.

If a batch fails (a bad row, a full disk), it is rolled back and its writes are replayed one
per transaction, so only the write at fault fails, with a StoreError. A record the codec
refuses fails its own write before the transaction starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeAlias

from tapri_daemon.errors import StoreError
from tapri_daemon.store.checkpoint import SAFETY_PAGES, SIZE_LIMIT, Checkpointer

Entry: TypeAlias = tuple[str, Hashable | None, Any, Callable[[Any], Sequence[Any]] | None]
"""``(sql, key, value, to_row)``: the parameters are ``to_row(value)``, or ``value`` itself
when ``to_row`` is None. ``key`` (None: none) identifies the row of a whole-row upsert.
A plain tuple: the engine queues a few per task, and a class would cost more than the row."""

_Step: TypeAlias = tuple[str, Any, int]
"""``(sql, rows, -1)`` for an executemany, ``(sql, params, index)`` for a counted write's
statement (its rowcount is added to write ``index``)."""


@dataclass(frozen=True, kw_only=True)
class Statement:
    sql: str
    params: Sequence[Any] = ()


@dataclass(frozen=True, kw_only=True)
class WriterStats:
    commits: int
    writes: int
    largest_batch: int
    checkpoints: int = 0
    """WAL checkpoints started beside the writer (checkpoint.py)."""


class _Write:
    """One queued write (a plain slotted class: thousands are made per second)."""

    __slots__ = ("counted", "entries", "future")

    def __init__(self, entries: Sequence[Entry], counted: bool, future: asyncio.Future[int]):
        self.entries = entries
        self.counted = counted
        self.future = future


def _open(path: str, busy_ms: int, synchronous: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout = {busy_ms}")
    conn.execute(f"PRAGMA synchronous = {synchronous}")
    conn.execute(f"PRAGMA wal_autocheckpoint = {SAFETY_PAGES}")  # see checkpoint.py
    conn.execute(f"PRAGMA journal_size_limit = {SIZE_LIMIT}")
    return conn


def _transaction(conn: sqlite3.Connection, steps: list[_Step]) -> dict[int, int]:
    """Run in the writer thread: the whole batch, committed or rolled back."""
    counts: dict[int, int] = {}
    conn.execute("BEGIN IMMEDIATE")
    try:
        for sql, params, index in steps:
            if index < 0:
                conn.executemany(sql, params)
            else:
                rowcount = conn.execute(sql, params).rowcount
                counts[index] = counts.get(index, 0) + max(rowcount, 0)
        conn.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")
        raise
    return counts


def _rows(write: _Write, seen: set[tuple[str, Hashable]]) -> list[tuple[str, Any]]:
    """The write's statements, without rows a later write of the batch replaces."""
    rows: list[tuple[str, Any]] = []
    for sql, key, value, to_row in write.entries:
        if key is not None and (sql, key) in seen:
            continue
        rows.append((sql, value if to_row is None else to_row(value)))
    return rows


def _mark(write: _Write, seen: set[tuple[str, Hashable]]) -> None:
    for sql, key, _, _ in write.entries:
        if key is not None:
            seen.add((sql, key))


def _fail(write: _Write, error: BaseException) -> None:
    if not write.future.done():
        write.future.set_exception(error)


class GroupCommitWriter:
    """Owns the write connection; a write's future resolves after the commit holding it."""

    def __init__(
        self,
        path: str,
        *,
        busy_ms: int = 5000,
        synchronous: str = "NORMAL",
        max_batch: int = 4096,
    ) -> None:
        self._path = path
        self._busy_ms = busy_ms
        self._synchronous = synchronous
        self._max_batch = max_batch
        self._pending: list[_Write] = []
        self._wakeup: asyncio.Future[None] | None = None
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="tapri-store-writer")
        self._conn: sqlite3.Connection | None = None
        self.checkpointer = Checkpointer(path, busy_ms=busy_ms)
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._commits = 0
        self._writes = 0
        self._largest = 0

    async def start(self) -> None:
        """Open the connection (in the writer thread) and start taking writes."""
        loop = asyncio.get_running_loop()
        try:
            self._conn = await loop.run_in_executor(
                self._thread, _open, self._path, self._busy_ms, self._synchronous
            )
            await self.checkpointer.start()
        except BaseException:
            await self._in_thread(self._close_connection)
            self._thread.shutdown(wait=False)
            raise
        self._task = asyncio.create_task(self._loop(), name="tapri-store-writer")

    def stats(self) -> WriterStats:
        return WriterStats(
            commits=self._commits,
            writes=self._writes,
            largest_batch=self._largest,
            checkpoints=self.checkpointer.checkpoints,
        )

    def submit(self, entries: Sequence[Entry], *, counted: bool = False) -> asyncio.Future[int]:
        """Queue entries as one atomic write; the future resolves once it is committed,
        to the rows it changed if ``counted``. Never raises: a closed writer's future
        holds the StoreError."""
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        if self._closing or self._task is None:
            future.set_exception(StoreError(self._path, "the store is closed"))
            return future
        self._pending.append(_Write(entries, counted, future))
        wakeup = self._wakeup
        if wakeup is not None and not wakeup.done():
            wakeup.set_result(None)
        return future

    async def write(self, *statements: Statement, counted: bool = False) -> int:
        """Queue statements as one atomic write; return the rows they changed (if counted)."""
        entries = [(s.sql, None, s.params, None) for s in statements]
        return await self.submit(entries, counted=counted)

    async def close(self) -> None:
        """Commit everything queued so far, then stop and close the connection."""
        if self._task is None or self._closing:
            return
        self._closing = True
        if self._wakeup is not None and not self._wakeup.done():
            self._wakeup.set_result(None)
        try:
            await self._task
        finally:
            await self.checkpointer.close()
            await self._in_thread(self._close_connection)
            self._thread.shutdown(wait=True)

    def _close_connection(self) -> None:
        if self._conn is not None:
            self._conn.close()

    async def _in_thread(self, function: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._thread, function, *args)

    async def _loop(self) -> None:
        while True:
            if not self._pending:
                if self._closing:
                    return
                self._wakeup = asyncio.get_running_loop().create_future()
                await self._wakeup
                self._wakeup = None
            await asyncio.sleep(0)  # let writers woken by the same event join this batch
            batch = self._pending[: self._max_batch]
            del self._pending[: self._max_batch]
            await self._commit(batch)

    async def _commit(self, batch: list[_Write]) -> None:
        ready, steps = self._prepare(batch)
        if not ready:
            return
        try:
            counts = await self._in_thread(_transaction, self._conn, steps)
        except Exception as exc:  # any failure: isolate the write at fault
            if len(ready) > 1:
                for write in ready:
                    await self._commit([write])
                return
            _fail(ready[0], StoreError(self._path, f"write failed: {exc}"))
            return
        self._commits += 1
        self._writes += len(ready)
        self._largest = max(self._largest, len(ready))
        for index, write in enumerate(ready):
            if not write.future.done():
                write.future.set_result(counts.get(index, 0))
        rows = sum(len(params) if index < 0 else 1 for _, params, index in steps)
        self.checkpointer.after_commit(rows, idle=not self._pending)

    def _prepare(self, batch: list[_Write]) -> tuple[list[_Write], list[_Step]]:
        """The writes that could be encoded, and the steps of their transaction."""
        built: list[list[tuple[str, Any]] | None] = [None] * len(batch)
        seen: set[tuple[str, Hashable]] = set()
        for index in range(len(batch) - 1, -1, -1):  # latest first: it supersedes
            write = batch[index]
            try:
                built[index] = _rows(write, seen)
            except Exception as exc:  # the codec refused a record: only this write fails
                _fail(write, exc)
                continue
            _mark(write, seen)
        ready: list[_Write] = []
        steps: list[_Step] = []
        groups: dict[str, list[Any]] = {}
        for write, rows in zip(batch, built, strict=True):
            if rows is None:
                continue
            if write.counted:
                _flush(groups, steps)
                steps.extend((sql, params, len(ready)) for sql, params in rows)
            else:
                for sql, params in rows:
                    groups.setdefault(sql, []).append(params)
            ready.append(write)
        _flush(groups, steps)
        return ready, steps


def _flush(groups: dict[str, list[Any]], steps: list[_Step]) -> None:
    steps.extend((sql, rows, -1) for sql, rows in groups.items())
    groups.clear()
