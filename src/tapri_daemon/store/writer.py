"""Group commit: one writer task turns many concurrent writes into few transactions.

Every write is queued with a Future. The writer takes everything queued (up to
``max_batch``), runs it in one ``BEGIN IMMEDIATE`` ... ``COMMIT`` and only then resolves the
futures, so a caller's ``await`` returns once ITS write is committed, and a state anyone can
observe (CLI, logs written after the await) is never ahead of the file. While one batch
commits the next one fills up; there is no timer and no added latency when idle.

Ordering: statements with the same SQL keep their queue order (they go through one
``executemany``); kinds of statement are applied in the order they first appear in the
batch; a counted write (whose caller needs a rowcount, e.g. an insert that may conflict)
flushes everything queued before it. Writes that one caller awaits in sequence are always
in order, because the second is queued only after the first has committed.

If a batch fails (a bad row, a full disk), it is rolled back and its writes are replayed one
per transaction, so only the write at fault fails, with a StoreError.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import aiosqlite

from tapri_daemon.errors import StoreError


@dataclass(frozen=True, kw_only=True)
class Statement:
    sql: str
    params: Sequence[Any] = ()


@dataclass(frozen=True, kw_only=True)
class _Write:
    statements: tuple[Statement, ...]
    counted: bool
    future: asyncio.Future[int]


@dataclass(frozen=True, kw_only=True)
class WriterStats:
    commits: int
    writes: int
    largest_batch: int


class GroupCommitWriter:
    """Owns the write connection; ``write`` returns after the commit that contains it."""

    def __init__(self, conn: aiosqlite.Connection, path: str, *, max_batch: int = 4096) -> None:
        self._conn = conn
        self._path = path
        self._max_batch = max_batch
        self._queue: asyncio.Queue[_Write | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._commits = 0
        self._writes = 0
        self._largest = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="tapri-store-writer")

    @property
    def connection(self) -> aiosqlite.Connection:
        return self._conn

    def stats(self) -> WriterStats:
        return WriterStats(commits=self._commits, writes=self._writes, largest_batch=self._largest)

    async def write(self, *statements: Statement, counted: bool = False) -> int:
        """Queue statements as one atomic write; return the rows they changed (if counted)."""
        if self._closing or self._task is None:
            raise StoreError(self._path, "the store is closed (or opened read-only)")
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Write(statements=statements, counted=counted, future=future))
        return await future

    async def close(self) -> None:
        """Commit everything queued so far, then stop."""
        if self._task is None or self._closing:
            return
        self._closing = True
        self._queue.put_nowait(None)
        await self._task

    async def _loop(self) -> None:
        while True:
            first = await self._queue.get()
            if first is None:
                return
            await asyncio.sleep(0)  # let writers woken by the same event join this batch
            batch, stop = self._drain(first)
            await self._commit(batch)
            if stop:
                return

    def _drain(self, first: _Write) -> tuple[list[_Write], bool]:
        batch = [first]
        while len(batch) < self._max_batch and not self._queue.empty():
            item = self._queue.get_nowait()
            if item is None:
                return batch, True
            batch.append(item)
        return batch, False

    async def _commit(self, batch: list[_Write]) -> None:
        try:
            counts = await self._transaction(batch)
        except Exception as exc:  # any failure: isolate the write at fault
            if len(batch) > 1:
                for write in batch:
                    await self._commit([write])
                return
            _fail(batch[0], StoreError(self._path, f"write failed: {exc}"))
            return
        self._commits += 1
        self._writes += len(batch)
        self._largest = max(self._largest, len(batch))
        for write, count in zip(batch, counts, strict=True):
            if not write.future.done():
                write.future.set_result(count)

    async def _transaction(self, batch: list[_Write]) -> list[int]:
        await self._conn.execute("BEGIN IMMEDIATE")
        try:
            counts = await self._execute(batch)
            await self._conn.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                await self._conn.execute("ROLLBACK")
            raise
        return counts

    async def _execute(self, batch: list[_Write]) -> list[int]:
        counts = [0] * len(batch)
        groups: dict[str, list[Sequence[Any]]] = {}
        for index, write in enumerate(batch):
            if not write.counted:
                for statement in write.statements:
                    groups.setdefault(statement.sql, []).append(statement.params)
                continue
            await self._flush(groups)
            for statement in write.statements:
                cursor = await self._conn.execute(statement.sql, statement.params)
                counts[index] += max(cursor.rowcount, 0)
        await self._flush(groups)
        return counts

    async def _flush(self, groups: dict[str, list[Sequence[Any]]]) -> None:
        for sql, rows in groups.items():
            await self._conn.executemany(sql, rows)
        groups.clear()


def _fail(write: _Write, error: StoreError) -> None:
    if not write.future.done():
        write.future.set_exception(error)
