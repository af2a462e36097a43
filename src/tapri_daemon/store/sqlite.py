"""SQLiteStore: the durable Store in one SQLite file (aiosqlite, WAL, group commit).

Connections. Read-write: one ``sqlite3`` connection belongs to the group-commit writer and
its thread (every transaction ``BEGIN IMMEDIATE``, writer.py), one more to its WAL
checkpoints (checkpoint.py), and an aiosqlite one serves reads, so a read never sees a
batch that is half-way through its transaction. Setup (WAL, migrations) runs on a
short-lived aiosqlite connection. Read-only (the CLI): one ``file:...?mode=ro``
connection; WAL lets it read while a daemon writes, ``busy_timeout`` plus a retry loop
keep "database is locked" away from users.

Durability. ``synchronous=NORMAL`` in WAL mode: a committed write survives a crash of
tapri (or kill -9) at once; after a power loss or kernel crash the last transactions
before the loss (those since the last WAL sync at checkpoint) may be rolled back, but the
file is never corrupted. That costs no fsync per commit, which the engine's throughput
needs; a deployment that must survive power loss without losing a transition can set
``synchronous="FULL"``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AsyncExitStack
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import quote

import aiosqlite

from tapri_daemon.errors import StoreError
from tapri_daemon.interfaces import (
    AttemptRecord,
    DaemonRecord,
    FireRecord,
    RunRecord,
    RunState,
    TaskRecord,
    WorkflowStats,
)
from tapri_daemon.store import codec, schema
from tapri_daemon.store import queries as q
from tapri_daemon.store.stats import compute_stats
from tapri_daemon.store.writer import Entry, GroupCommitWriter, Statement, WriterStats

Synchronous = Literal["NORMAL", "FULL"]
DIR_MODE = 0o750
FILE_MODE = 0o600
READ_RETRIES = 10
_BUSY_CODES = (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
T = TypeVar("T")


def prepare_folder(folder: Path) -> None:
    """Create the state folder with mode 0750 if it is missing (an existing one is kept)."""
    if not folder.exists():
        folder.mkdir(parents=True, mode=DIR_MODE)
        folder.chmod(DIR_MODE)


def restrict_files(path: Path) -> None:
    """Mode 0600 on the database and its -wal / -shm companions."""
    for candidate in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        with contextlib.suppress(FileNotFoundError):
            candidate.chmod(FILE_MODE)


def _create_private(path: Path) -> None:
    os.close(os.open(path, os.O_CREAT | os.O_RDWR, FILE_MODE))
    path.chmod(FILE_MODE)


async def _pragmas(conn: aiosqlite.Connection, busy_ms: int, *pragmas: str) -> None:
    await conn.execute(f"PRAGMA busy_timeout = {busy_ms}")
    for pragma in pragmas:
        await conn.execute(f"PRAGMA {pragma}")


async def _enable_wal(conn: aiosqlite.Connection, path: Path) -> None:
    async with conn.execute("PRAGMA journal_mode = WAL") as cursor:
        row = await cursor.fetchone()
    if row is None or str(row[0]).lower() != "wal":
        raise StoreError(str(path), f"cannot switch to WAL mode (got {row})")


async def retry_busy(action: Callable[[], Awaitable[T]], retries: int = READ_RETRIES) -> T:
    """Run a read again while SQLite says busy/locked (after busy_timeout), with backoff."""
    for attempt in range(retries):
        try:
            return await action()
        except sqlite3.Error as exc:
            if not _busy(exc):
                raise
            await asyncio.sleep(min(0.01 * 2**attempt, 0.5))
    return await action()


def _readonly_uri(path: Path) -> str:
    if not path.is_file():
        raise StoreError(str(path), "no store here (nothing has run yet)")
    return f"file:{quote(str(path.resolve()))}?mode=ro"


def _busy(exc: sqlite3.Error) -> bool:
    """SQLITE_BUSY / SQLITE_LOCKED, including extended codes such as BUSY_RECOVERY."""
    code = getattr(exc, "sqlite_errorcode", None)
    return (code is not None and code & 0xFF in _BUSY_CODES) or "locked" in str(exc)


class SQLiteStore:
    """``interfaces.Store`` on one SQLite file. Build it with ``open``, ``connect`` or ``start``."""

    def __init__(
        self,
        *,
        path: Path,
        reader: aiosqlite.Connection,
        writer: GroupCommitWriter | None = None,
        read_retries: int = READ_RETRIES,
    ) -> None:
        self.path = path
        self._reader = reader
        self._writer = writer
        self._read_retries = read_retries
        self._closed = False

    # opening and closing

    @classmethod
    async def connect(
        cls,
        path: Path,
        *,
        readonly: bool = False,
        busy_timeout: float = 5.0,
        synchronous: Synchronous = "NORMAL",
    ) -> SQLiteStore:
        """Open (creating and migrating unless ``readonly``); call ``close`` when done."""
        path = Path(path)
        busy_ms = int(busy_timeout * 1000)
        try:
            if readonly:
                return await cls._connect_readonly(path, busy_ms)
            return await cls._connect_readwrite(path, busy_ms, synchronous)
        except sqlite3.Error as exc:
            raise StoreError(str(path), str(exc)) from exc

    @classmethod
    @contextlib.asynccontextmanager
    async def open(
        cls,
        path: Path,
        *,
        readonly: bool = False,
        busy_timeout: float = 5.0,
        synchronous: Synchronous = "NORMAL",
    ) -> AsyncIterator[SQLiteStore]:
        """``async with SQLiteStore.open(path) as store:``; committed and closed on exit."""
        store = await cls.connect(
            path, readonly=readonly, busy_timeout=busy_timeout, synchronous=synchronous
        )
        try:
            yield store
        finally:
            await store.close()

    @classmethod
    async def start(
        cls, stack: AsyncExitStack, path: Path, *, readonly: bool = False
    ) -> SQLiteStore:
        """Open and register ``close`` on the caller's exit stack (the daemon's style)."""
        store = await cls.connect(path, readonly=readonly)
        stack.push_async_callback(store.close)
        return store

    @classmethod
    async def _connect_readonly(cls, path: Path, busy_ms: int) -> SQLiteStore:
        reader = await aiosqlite.connect(_readonly_uri(path), uri=True, isolation_level=None)
        try:
            await _pragmas(reader, busy_ms)
            version = await retry_busy(lambda: schema.user_version(reader))
            schema.check_version(str(path), version)
            if version == 0:
                raise StoreError(str(path), "not a tapri store (no schema)")
        except BaseException:
            await reader.close()
            raise
        return cls(path=path, reader=reader)

    @classmethod
    async def _connect_readwrite(
        cls, path: Path, busy_ms: int, synchronous: Synchronous
    ) -> SQLiteStore:
        prepare_folder(path.parent)
        _create_private(path)
        async with aiosqlite.connect(path, isolation_level=None) as setup:
            await _pragmas(setup, busy_ms, f"synchronous = {synchronous}")
            await _enable_wal(setup, path)
            await schema.migrate(setup, str(path))
        async with AsyncExitStack() as stack:
            reader = await aiosqlite.connect(path, isolation_level=None)
            stack.push_async_callback(reader.close)
            await _pragmas(reader, busy_ms, "query_only = ON")
            restrict_files(path)
            writer = GroupCommitWriter(str(path), busy_ms=busy_ms, synchronous=synchronous)
            await writer.start()
            stack.pop_all()
        return cls(path=path, reader=reader, writer=writer)

    async def close(self) -> None:
        """Commit what is queued, then close the connections (idempotent)."""
        if self._closed:
            return
        self._closed = True
        if self._writer is not None:
            await self._writer.close()
        await self._reader.close()
        restrict_files(self.path)

    @property
    def readonly(self) -> bool:
        return self._writer is None

    def writer_stats(self) -> WriterStats:
        """Commits, writes and the largest batch so far (zeros when read-only)."""
        if self._writer is None:
            return WriterStats(commits=0, writes=0, largest_batch=0)
        return self._writer.stats()

    # plumbing

    def _submit(self, entries: Sequence[Entry], counted: bool = False) -> asyncio.Future[int]:
        if self._writer is None:
            future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
            future.set_exception(StoreError(str(self.path), "opened read-only"))
            return future
        return self._writer.submit(entries, counted=counted)

    async def _write(self, *statements: Statement, counted: bool = False) -> int:
        return await self._submit([(s.sql, None, s.params, None) for s in statements], counted)

    async def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        async def fetch() -> list[Any]:
            return list(await self._reader.execute_fetchall(sql, params))

        try:
            return await retry_busy(fetch, self._read_retries)
        except sqlite3.Error as exc:
            raise StoreError(str(self.path), f"read failed: {exc}") from exc

    # writes

    async def save_run(self, run: RunRecord) -> None:
        await self._submit(((q.UPSERT_RUN, run.run_id, run, codec.run_row),))

    async def save_task(self, task: TaskRecord) -> None:
        await self._submit(_task_entries(task))

    async def save_attempt(self, attempt: AttemptRecord) -> None:
        await self._submit((_attempt_entry(attempt),))

    def submit(
        self, *, tasks: Sequence[TaskRecord] = (), attempts: Sequence[AttemptRecord] = ()
    ) -> asyncio.Future[int]:
        """Queue attempts and tasks as one write (one transaction); return at once.

        The future resolves once all of them are committed (awaiting it is ``save_*``
        for each, in one commit); a record the codec refuses fails the whole write.
        The engine's hot path: no coroutine, one future, rows encoded at commit time.
        """
        entries = [_attempt_entry(a) for a in attempts]
        for task in tasks:
            entries.extend(_task_entries(task))
        return self._submit(entries)

    async def record_fire(self, fire: FireRecord) -> bool:
        row = codec.fire_row(fire)
        return await self._write(Statement(sql=q.INSERT_FIRE, params=row), counted=True) == 1

    async def update_fire(self, fire: FireRecord) -> None:
        row = codec.fire_row(fire)
        await self._write(Statement(sql=q.UPDATE_FIRE, params=(*row[2:], *row[:2])))

    async def set_paused(self, workflow: str, paused: bool) -> None:
        await self._write(Statement(sql=q.UPSERT_PAUSED, params=(workflow, int(paused))))

    async def delete_runs(self, run_ids: Sequence[str]) -> None:
        for chunk in _chunks(list(run_ids), 500):
            marks = ", ".join("?" * len(chunk))
            await self._write(
                *(Statement(sql=sql.format(marks=marks), params=chunk) for sql in q.DELETE_RUN)
            )

    async def record_daemon(self, daemon: DaemonRecord) -> None:
        await self._write(Statement(sql=q.UPSERT_DAEMON, params=codec.daemon_row(daemon)))

    # reads

    async def get_run(self, run_id: str) -> RunRecord | None:
        rows = await self._rows(q.GET_RUN, (run_id,))
        return codec.run_from_row(rows[0]) if rows else None

    async def list_runs(
        self, *, workflow: str | None = None, states: Sequence[RunState] = (), limit: int = 50
    ) -> list[RunRecord]:
        sql, params = q.list_runs(workflow, [str(s) for s in states], limit)
        return [codec.run_from_row(row) for row in await self._rows(sql, params)]

    async def get_tasks(self, run_id: str) -> list[TaskRecord]:
        rows = await self._rows(q.GET_TASKS, (run_id,))
        return [codec.task_from_row(row[:-1], row[-1]) for row in rows]

    async def get_attempts(self, run_id: str, task_id: str | None = None) -> list[AttemptRecord]:
        if task_id is None:
            rows = await self._rows(q.GET_ATTEMPTS, (run_id,))
        else:
            rows = await self._rows(q.GET_TASK_ATTEMPTS, (run_id, task_id))
        return [codec.attempt_from_row(row) for row in rows]

    async def last_fire(self, workflow: str) -> FireRecord | None:
        rows = await self._rows(q.LAST_FIRE, (workflow,))
        return codec.fire_from_row(rows[0]) if rows else None

    async def last_fires(self) -> dict[str, FireRecord]:
        fires = [codec.fire_from_row(row) for row in await self._rows(q.LAST_FIRES)]
        return {fire.workflow: fire for fire in fires}

    async def unfinished_runs(self) -> list[RunRecord]:
        return [codec.run_from_row(row) for row in await self._rows(q.UNFINISHED_RUNS)]

    async def running_attempts(self) -> list[AttemptRecord]:
        return [codec.attempt_from_row(row) for row in await self._rows(q.RUNNING_ATTEMPTS)]

    async def paused(self) -> set[str]:
        return {row[0] for row in await self._rows(q.PAUSED)}

    async def finished_runs_before(self, instant: datetime) -> list[RunRecord]:
        rows = await self._rows(q.FINISHED_BEFORE, (codec.to_us(instant),))
        return [codec.run_from_row(row) for row in rows]

    async def run_stats(
        self,
        since: datetime,
        workflow: str | None = None,
        *,
        late_after: timedelta = timedelta(milliseconds=1),
    ) -> list[WorkflowStats]:
        params = (codec.to_us(since), workflow, workflow)
        runs = [codec.run_from_row(r) for r in await self._rows(q.STATS_RUNS, params)]
        attempts = [codec.attempt_from_row(r) for r in await self._rows(q.STATS_ATTEMPTS, params)]
        fires = [codec.fire_from_row(r) for r in await self._rows(q.STATS_FIRES, params)]
        return compute_stats(runs, attempts, fires, late_after=late_after)

    async def daemon_instances(self, limit: int = 20) -> list[DaemonRecord]:
        return [codec.daemon_from_row(row) for row in await self._rows(q.DAEMONS, (limit,))]


def _task_entries(task: TaskRecord) -> tuple[Entry, Entry]:
    key = (task.run_id, task.task_id)
    return (
        (q.UPSERT_TASK, key, task, codec.task_row),
        (q.UPSERT_OUTPUT, key, task, codec.output_row),
    )


def _attempt_entry(attempt: AttemptRecord) -> Entry:
    key = (attempt.run_id, attempt.task_id, attempt.attempt)
    return (q.UPSERT_ATTEMPT, key, attempt, codec.attempt_row)


def _chunks(items: list[str], size: int) -> list[list[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]
