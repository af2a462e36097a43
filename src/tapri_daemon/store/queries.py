"""The SQL SQLiteStore runs, built from the codec's column lists."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from tapri_daemon.interfaces import RunState
from tapri_daemon.store.codec import (
    ATTEMPT_COLUMNS,
    DAEMON_COLUMNS,
    FIRE_COLUMNS,
    OUTPUT_COLUMNS,
    RUN_COLUMNS,
    TASK_COLUMNS,
)


def _cols(columns: Sequence[str], prefix: str = "") -> str:
    return ", ".join(f"{prefix}{c}" for c in columns)


def upsert(table: str, columns: Sequence[str], key: Sequence[str]) -> str:
    marks = ", ".join("?" * len(columns))
    updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c not in key)
    return (
        f"INSERT INTO {table} ({_cols(columns)}) VALUES ({marks}) "
        f"ON CONFLICT ({_cols(key)}) DO UPDATE SET {updates}"
    )


_FINISHED: Final = ", ".join(f"'{s}'" for s in RunState if s.finished)
_UNFINISHED: Final = ", ".join(f"'{s}'" for s in RunState if not s.finished)
RUNS: Final = _cols(RUN_COLUMNS)
ATTEMPTS: Final = _cols(ATTEMPT_COLUMNS)
FIRES: Final = _cols(FIRE_COLUMNS)

UPSERT_RUN: Final = upsert("runs", RUN_COLUMNS, ("run_id",))
UPSERT_TASK: Final = upsert("task_instances", TASK_COLUMNS, ("run_id", "task_id"))
UPSERT_OUTPUT: Final = upsert("outputs", OUTPUT_COLUMNS, ("run_id", "task_id"))
UPSERT_ATTEMPT: Final = upsert("attempts", ATTEMPT_COLUMNS, ("run_id", "task_id", "attempt"))
UPSERT_DAEMON: Final = upsert("daemon_instances", DAEMON_COLUMNS, ("daemon_id",))
UPSERT_PAUSED: Final = upsert("paused", ("workflow", "paused"), ("workflow",))
INSERT_FIRE: Final = (
    f"INSERT INTO fires ({FIRES}) VALUES ({', '.join('?' * len(FIRE_COLUMNS))}) "
    "ON CONFLICT (workflow, scheduled_for) DO NOTHING"
)
UPDATE_FIRE: Final = (
    "UPDATE fires SET recorded_at = ?, status = ?, run_id = ?, missed_count = ? "
    "WHERE workflow = ? AND scheduled_for = ?"
)
DELETE_RUN: Final = tuple(
    f"DELETE FROM {table} WHERE run_id IN ({{marks}})"
    for table in ("attempts", "outputs", "task_instances", "runs")
)

GET_RUN: Final = f"SELECT {RUNS} FROM runs WHERE run_id = ?"
GET_TASKS: Final = (
    f"SELECT {_cols(TASK_COLUMNS, 't.')}, o.value FROM task_instances t "
    "LEFT JOIN outputs o ON o.run_id = t.run_id AND o.task_id = t.task_id "
    "WHERE t.run_id = ? ORDER BY t.rowid"
)
GET_ATTEMPTS: Final = f"SELECT {ATTEMPTS} FROM attempts WHERE run_id = ? ORDER BY rowid"
GET_TASK_ATTEMPTS: Final = (
    f"SELECT {ATTEMPTS} FROM attempts WHERE run_id = ? AND task_id = ? ORDER BY rowid"
)
LAST_FIRE: Final = (
    f"SELECT {FIRES} FROM fires WHERE workflow = ? ORDER BY scheduled_for DESC LIMIT 1"
)
LAST_FIRES: Final = (
    f"SELECT {FIRES} FROM fires f WHERE scheduled_for = "
    "(SELECT MAX(scheduled_for) FROM fires WHERE workflow = f.workflow) ORDER BY workflow"
)
UNFINISHED_RUNS: Final = (
    f"SELECT {RUNS} FROM runs WHERE state IN ({_UNFINISHED}) ORDER BY queued_at, run_id"
)
RUNNING_ATTEMPTS: Final = f"SELECT {ATTEMPTS} FROM attempts WHERE outcome IS NULL ORDER BY rowid"
PAUSED: Final = "SELECT workflow FROM paused WHERE paused = 1"
FINISHED_BEFORE: Final = (
    f"SELECT {RUNS} FROM runs WHERE state IN ({_FINISHED}) "
    "AND COALESCE(ended_at, queued_at) < ? ORDER BY COALESCE(ended_at, queued_at), run_id"
)
DAEMONS: Final = (
    f"SELECT {_cols(DAEMON_COLUMNS)} FROM daemon_instances ORDER BY started_at DESC LIMIT ?"
)

# run_stats: parameters (since_us, workflow, workflow); a NULL workflow means every one.
_IN_WINDOW: Final = "queued_at >= ? AND (? IS NULL OR workflow = ?)"
STATS_RUNS: Final = f"SELECT {RUNS} FROM runs WHERE {_IN_WINDOW}"
STATS_ATTEMPTS: Final = (
    f"SELECT {_cols(ATTEMPT_COLUMNS, 'a.')} FROM attempts a "
    f"JOIN runs USING (run_id) WHERE {_IN_WINDOW}"
)
STATS_FIRES: Final = (
    f"SELECT {FIRES} FROM fires WHERE scheduled_for >= ? AND (? IS NULL OR workflow = ?)"
)


def list_runs(workflow: str | None, states: Sequence[str], limit: int) -> tuple[str, list[Any]]:
    where: list[str] = []
    params: list[Any] = []
    if workflow is not None:
        where.append("workflow = ?")
        params.append(workflow)
    if states:
        where.append(f"state IN ({', '.join('?' * len(states))})")
        params.extend(states)
    clause = f"WHERE {' AND '.join(where)} " if where else ""
    params.append(limit)
    return f"SELECT {RUNS} FROM runs {clause}ORDER BY queued_at DESC, run_id DESC LIMIT ?", params
