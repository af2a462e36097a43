"""Records <-> rows. One place decides how every field is stored.

Datetimes are integer microseconds since the Unix epoch (UTC): they sort as numbers, index
well and round-trip any aware datetime exactly to the microsecond (read back in UTC).
Naive datetimes are refused. JSON values (params, outputs) are stored as compact JSON
text; a value json cannot encode is refused before it reaches the transaction.

Column tuples below are the order of the values in a row; the SQL in ``sqlite.py`` is built
from them, and ``MemoryStore`` round-trips records through the same functions, so both
stores hand back identical records.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeAlias

from tapri_daemon.errors import StoreError
from tapri_daemon.interfaces import (
    JSON,
    AttemptRecord,
    DaemonRecord,
    FireRecord,
    FireStatus,
    Outcome,
    RunRecord,
    RunState,
    TaskRecord,
    TaskState,
    Trigger,
)

Row: TypeAlias = Sequence[Any]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

RUN_COLUMNS = (
    "run_id",
    "workflow",
    "logical_date",
    "trigger",
    "state",
    "params",
    "queued_at",
    "started_at",
    "ended_at",
    "scheduled_for",
    "reason",
    "daemon_id",
)
TASK_COLUMNS = ("run_id", "task_id", "state", "attempts", "reason", "started_at", "ended_at")
OUTPUT_COLUMNS = ("run_id", "task_id", "value")
ATTEMPT_COLUMNS = (
    "run_id",
    "task_id",
    "attempt",
    "outcome",
    "started_at",
    "ended_at",
    "exit_code",
    "error",
    "pid",
    "pgid",
    "pid_start_time",
    "daemon_id",
    "log_path",
    "killed",
    "fire_target_ns",
    "fire_actual_ns",
)
FIRE_COLUMNS = ("workflow", "scheduled_for", "recorded_at", "status", "run_id", "missed_count")
DAEMON_COLUMNS = ("daemon_id", "pid", "host", "started_at", "stopped_at", "config_digest")


def to_us(instant: datetime) -> int:
    """An aware datetime as integer microseconds since the epoch."""
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise StoreError("record", f"naive datetime {instant.isoformat()}: store aware times")
    return (instant - _EPOCH) // timedelta(microseconds=1)


def from_us(value: int) -> datetime:
    return _EPOCH + timedelta(microseconds=value)


def opt_us(instant: datetime | None) -> int | None:
    return None if instant is None else to_us(instant)


def opt_dt(value: int | None) -> datetime | None:
    return None if value is None else from_us(value)


def dump_json(value: JSON) -> str:
    try:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise StoreError("record", f"value is not JSON-serialisable: {exc}") from None


def opt_json(value: JSON) -> str | None:
    return None if value is None else dump_json(value)


def load_json(text: str | None) -> JSON:
    return None if text is None else json.loads(text)


def run_row(run: RunRecord) -> tuple[Any, ...]:
    return (
        run.run_id,
        run.workflow,
        to_us(run.logical_date),
        str(run.trigger),
        str(run.state),
        dump_json(dict(run.params)),
        to_us(run.queued_at),
        opt_us(run.started_at),
        opt_us(run.ended_at),
        opt_us(run.scheduled_for),
        run.reason,
        run.daemon_id,
    )


def run_from_row(row: Row) -> RunRecord:
    return RunRecord(
        run_id=row[0],
        workflow=row[1],
        logical_date=from_us(row[2]),
        trigger=Trigger(row[3]),
        state=RunState(row[4]),
        params=load_json(row[5]) or {},
        queued_at=from_us(row[6]),
        started_at=opt_dt(row[7]),
        ended_at=opt_dt(row[8]),
        scheduled_for=opt_dt(row[9]),
        reason=row[10],
        daemon_id=row[11],
    )


def task_row(task: TaskRecord) -> tuple[Any, ...]:
    return (
        task.run_id,
        task.task_id,
        str(task.state),
        task.attempts,
        task.reason,
        opt_us(task.started_at),
        opt_us(task.ended_at),
    )


def output_row(task: TaskRecord) -> tuple[Any, ...]:
    return (task.run_id, task.task_id, opt_json(task.output))


def task_from_row(row: Row, output_text: str | None) -> TaskRecord:
    return TaskRecord(
        run_id=row[0],
        task_id=row[1],
        state=TaskState(row[2]),
        attempts=row[3],
        reason=row[4],
        started_at=opt_dt(row[5]),
        ended_at=opt_dt(row[6]),
        output=load_json(output_text),
    )


def attempt_row(attempt: AttemptRecord) -> tuple[Any, ...]:
    return (
        attempt.run_id,
        attempt.task_id,
        attempt.attempt,
        None if attempt.outcome is None else str(attempt.outcome),
        to_us(attempt.started_at),
        opt_us(attempt.ended_at),
        attempt.exit_code,
        attempt.error,
        attempt.pid,
        attempt.pgid,
        attempt.pid_start_time,
        attempt.daemon_id,
        attempt.log_path,
        attempt.killed,
        attempt.fire_target_ns,
        attempt.fire_actual_ns,
    )


def attempt_from_row(row: Row) -> AttemptRecord:
    return AttemptRecord(
        run_id=row[0],
        task_id=row[1],
        attempt=row[2],
        outcome=None if row[3] is None else Outcome(row[3]),
        started_at=from_us(row[4]),
        ended_at=opt_dt(row[5]),
        exit_code=row[6],
        error=row[7],
        pid=row[8],
        pgid=row[9],
        pid_start_time=row[10],
        daemon_id=row[11],
        log_path=row[12],
        killed=row[13],
        fire_target_ns=row[14],
        fire_actual_ns=row[15],
    )


def fire_row(fire: FireRecord) -> tuple[Any, ...]:
    return (
        fire.workflow,
        to_us(fire.scheduled_for),
        to_us(fire.recorded_at),
        str(fire.status),
        fire.run_id,
        fire.missed_count,
    )


def fire_from_row(row: Row) -> FireRecord:
    return FireRecord(
        workflow=row[0],
        scheduled_for=from_us(row[1]),
        recorded_at=from_us(row[2]),
        status=FireStatus(row[3]),
        run_id=row[4],
        missed_count=row[5],
    )


def daemon_row(daemon: DaemonRecord) -> tuple[Any, ...]:
    return (
        daemon.daemon_id,
        daemon.pid,
        daemon.host,
        to_us(daemon.started_at),
        opt_us(daemon.stopped_at),
        daemon.config_digest,
    )


def daemon_from_row(row: Row) -> DaemonRecord:
    return DaemonRecord(
        daemon_id=row[0],
        pid=row[1],
        host=row[2],
        started_at=from_us(row[3]),
        stopped_at=opt_dt(row[4]),
        config_digest=row[5],
    )
