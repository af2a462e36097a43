"""sql tasks: SQLite through aiosqlite; parameters bound, never pasted into the SQL.

- ``database_url``: ``sqlite:///relative.db``, ``sqlite:////absolute.db``, a plain path or
  ``:memory:``; a relative path is taken from ``request.cwd`` (else the daemon's working
  directory; the engine already resolves [database] paths from the workflows file). Any
  other scheme (``postgresql://``…) fails the attempt: only SQLite is supported so far.
- One statement, its named parameters (``:name``) bound from ``sql_params``. Without
  parameters, SQL holding several statements runs as a script (``executescript``).
- Output: a statement that returns rows (SELECT, ``RETURNING``) gives a list of objects,
  one per row, column name -> value (BLOBs as base64 text); at most ``MAX_ROWS`` rows, and
  at most ``output_limit`` bytes: a bigger result fails the attempt (add LIMIT, aggregate).
  Anything else gives ``{"changes": N}``, the rows changed. The work is committed.
- Timeout and cancellation interrupt the running statement (``sqlite3_interrupt``).
"""

from __future__ import annotations

import base64
import contextlib
import os
import sqlite3
import time
from typing import Any

import aiosqlite
import anyio

from tapri_daemon.executors import output
from tapri_daemon.executors.capture import LogCapture
from tapri_daemon.executors.release import release_at, released
from tapri_daemon.interfaces import (
    JSON,
    AttemptObserver,
    AttemptRequest,
    AttemptResult,
    Clock,
    Outcome,
)

MAX_ROWS = 1000
_SCHEME = "sqlite://"
_ONE_STATEMENT = "one statement at a time"


class SqlRefused(Exception):
    """The task cannot run as given (message names why)."""


def database_path(url: str | None, cwd: str | None) -> str:
    if not url:
        raise SqlRefused("the task names no database")
    path = url[len(_SCHEME) :] if url.startswith(_SCHEME) else url
    if url.startswith(_SCHEME):
        path = path[1:] if path.startswith("/") else path
    elif "://" in url:
        scheme = url.split("://", 1)[0]
        raise SqlRefused(f"database URL scheme {scheme!r} is not supported (only sqlite)")
    if path in ("", ":memory:"):
        return ":memory:"
    return path if os.path.isabs(path) or cwd is None else os.path.join(cwd, path)


def _value(value: Any) -> JSON:
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    return value


async def _rows(cursor: aiosqlite.Cursor) -> list[dict[str, JSON]]:
    rows = list(await cursor.fetchmany(MAX_ROWS + 1))
    if len(rows) > MAX_ROWS:
        raise SqlRefused(f"the query returned more than {MAX_ROWS} rows; add LIMIT or aggregate")
    columns = [column[0] for column in cursor.description]
    return [{name: _value(v) for name, v in zip(columns, row, strict=True)} for row in rows]


async def _run(conn: aiosqlite.Connection, request: AttemptRequest) -> JSON:
    sql = request.sql or ""
    before = conn.total_changes
    try:
        cursor = await conn.execute(sql, dict(request.sql_params))
    except sqlite3.ProgrammingError as exc:
        if _ONE_STATEMENT not in str(exc) or request.sql_params:
            raise
        await conn.executescript(sql)
        return {"changes": conn.total_changes - before}
    value: JSON = (
        await _rows(cursor) if cursor.description is not None else {"changes": cursor.rowcount}
    )
    await conn.commit()
    return value


class SqlExecutor:
    def __init__(self, clock: Clock) -> None:
        self._clock = clock

    async def execute(self, request: AttemptRequest, observer: AttemptObserver) -> AttemptResult:
        started = time.time_ns()
        capture = LogCapture(request.log_path, request.log_limit)
        sent: list[int] = []
        try:
            value, timed_out = await self._attempt(request, capture, sent)
        except (SqlRefused, sqlite3.Error, ValueError) as exc:
            capture.note(f"sql failed: {exc}")
            capture.close()
            error = f"{type(exc).__name__}: {exc}" if isinstance(exc, sqlite3.Error) else str(exc)
            return output.finished(
                Outcome.FAILED,
                started,
                error=error,
                secrets=request.secrets,
                released_ns=released(request, sent),
            )
        capture.close()
        return _finished(request, started, value, timed_out, released(request, sent))

    async def _attempt(
        self, request: AttemptRequest, capture: LogCapture, sent: list[int]
    ) -> tuple[JSON, bool]:
        path = database_path(request.database_url, request.cwd)
        busy = request.timeout if request.timeout is not None else 30.0
        conn = aiosqlite.connect(path, timeout=busy)
        value: JSON = None
        try:
            with anyio.CancelScope() as scope:
                await self._connected(conn, request, scope)
                sent.append(time.time_ns())
                value = await _run(conn, request)
                capture.note(_summary(value))
            if scope.cancelled_caught:
                capture.note("timed out; interrupting the statement")
        finally:
            with anyio.CancelScope(shield=True):
                await _interrupt_and_close(conn)
        return value, scope.cancelled_caught

    async def _connected(
        self, conn: aiosqlite.Connection, request: AttemptRequest, scope: anyio.CancelScope
    ) -> None:
        """Connect; a precise fire connects before its instant and its timeout starts then."""
        if request.fire_at_ns is None:
            await release_at(self._clock, request, scope)
        await conn
        if request.fire_at_ns is not None:
            await release_at(self._clock, request, scope)


def _finished(
    request: AttemptRequest, started: int, value: JSON, timed_out: bool, release_ns: int | None
) -> AttemptResult:
    if timed_out:
        error = f"timed out after {request.timeout:g} s"
        return output.finished(Outcome.TIMEOUT, started, error=error, released_ns=release_ns)
    checked = output.check(value, request.output_limit, request.secrets)
    if checked.error is not None:
        return output.finished(Outcome.FAILED, started, error=checked.error, released_ns=release_ns)
    return output.finished(Outcome.SUCCESS, started, output=checked.value, released_ns=release_ns)


async def _interrupt_and_close(conn: aiosqlite.Connection) -> None:
    with contextlib.suppress(ValueError):
        await conn.interrupt()
    await conn.close()


def _summary(value: JSON) -> str:
    if isinstance(value, list):
        return f"sql: {len(value)} row(s)"
    return f"sql: {value}"
