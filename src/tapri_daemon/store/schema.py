"""The store's tables and their versioned migrations (``PRAGMA user_version``).

A migration is a list of statements; ``migrate`` applies the missing ones in order, each in
its own ``BEGIN IMMEDIATE`` transaction together with the new ``user_version``, so a crash
leaves the file at a whole version. A file whose version is newer than ``CURRENT`` was
written by a newer tapri and is refused rather than guessed at.

Times are integer microseconds since the epoch, UTC (see ``codec``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import aiosqlite

from tapri_daemon.errors import StoreError

V1: Final = (
    """CREATE TABLE runs (
        run_id        TEXT PRIMARY KEY,
        workflow      TEXT NOT NULL,
        logical_date  INTEGER NOT NULL,
        trigger       TEXT NOT NULL,
        state         TEXT NOT NULL,
        params        TEXT NOT NULL DEFAULT '{}',
        queued_at     INTEGER NOT NULL,
        started_at    INTEGER,
        ended_at      INTEGER,
        scheduled_for INTEGER,
        reason        TEXT,
        daemon_id     TEXT
    )""",
    """CREATE TABLE task_instances (
        run_id     TEXT NOT NULL,
        task_id    TEXT NOT NULL,
        state      TEXT NOT NULL,
        attempts   INTEGER NOT NULL DEFAULT 0,
        reason     TEXT,
        started_at INTEGER,
        ended_at   INTEGER,
        PRIMARY KEY (run_id, task_id)
    )""",
    """CREATE TABLE outputs (
        run_id  TEXT NOT NULL,
        task_id TEXT NOT NULL,
        value   TEXT,
        PRIMARY KEY (run_id, task_id)
    )""",
    """CREATE TABLE attempts (
        run_id         TEXT NOT NULL,
        task_id        TEXT NOT NULL,
        attempt        INTEGER NOT NULL,
        outcome        TEXT,
        started_at     INTEGER NOT NULL,
        ended_at       INTEGER,
        exit_code      INTEGER,
        error          TEXT,
        pid            INTEGER,
        pgid           INTEGER,
        pid_start_time INTEGER,
        daemon_id      TEXT,
        log_path       TEXT,
        killed         INTEGER NOT NULL DEFAULT 0,
        fire_target_ns INTEGER,
        fire_actual_ns INTEGER,
        PRIMARY KEY (run_id, task_id, attempt)
    )""",
    """CREATE TABLE fires (
        id            INTEGER PRIMARY KEY,
        workflow      TEXT NOT NULL,
        scheduled_for INTEGER NOT NULL,
        recorded_at   INTEGER NOT NULL,
        status        TEXT NOT NULL,
        run_id        TEXT,
        missed_count  INTEGER NOT NULL DEFAULT 0,
        UNIQUE (workflow, scheduled_for)
    )""",
    """CREATE TABLE daemon_instances (
        daemon_id     TEXT PRIMARY KEY,
        pid           INTEGER NOT NULL,
        host          TEXT NOT NULL,
        started_at    INTEGER NOT NULL,
        stopped_at    INTEGER,
        config_digest TEXT
    )""",
    """CREATE TABLE paused (
        workflow TEXT PRIMARY KEY,
        paused   INTEGER NOT NULL
    )""",
)

V2: Final = (
    "CREATE INDEX runs_by_queued ON runs (queued_at DESC, run_id DESC)",
    "CREATE INDEX runs_by_workflow ON runs (workflow, queued_at DESC)",
    "CREATE INDEX runs_by_state ON runs (state, ended_at)",
    "CREATE INDEX attempts_running ON attempts (run_id) WHERE outcome IS NULL",
)

MIGRATIONS: Final[tuple[Sequence[str], ...]] = (V1, V2)
"""MIGRATIONS[i] takes a file from user_version i to i + 1."""
CURRENT: Final = len(MIGRATIONS)


async def user_version(conn: aiosqlite.Connection) -> int:
    async with conn.execute("PRAGMA user_version") as cursor:
        row = await cursor.fetchone()
    return int(row[0]) if row else 0


def check_version(path: str, found: int) -> None:
    if found > CURRENT:
        raise StoreError(
            path,
            f"schema version {found} is newer than this tapri knows ({CURRENT}); "
            "upgrade tapri, or point --state-dir at another folder",
        )


async def _apply(conn: aiosqlite.Connection, version: int) -> None:
    await conn.execute("BEGIN IMMEDIATE")
    try:
        # Another opener may have migrated meanwhile: decide under the write lock.
        if await user_version(conn) == version:
            for statement in MIGRATIONS[version]:
                await conn.execute(statement)
            await conn.execute(f"PRAGMA user_version = {version + 1}")
    except BaseException:
        await conn.execute("ROLLBACK")
        raise
    await conn.execute("COMMIT")


async def migrate(conn: aiosqlite.Connection, path: str, target: int = CURRENT) -> int:
    """Bring the file to ``target``; return the version found before."""
    found = await user_version(conn)
    check_version(path, found)
    for version in range(found, target):
        await _apply(conn, version)
    return found
