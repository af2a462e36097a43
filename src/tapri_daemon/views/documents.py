"""The JSON documents of the CLI: `runs --json`, `run --json` and `show --json`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from tapri_daemon.interfaces import JSON, AttemptRecord, RunRecord, TaskRecord


def iso(instant: datetime | None) -> str | None:
    return None if instant is None else instant.isoformat()


def run_summary(run: RunRecord) -> dict[str, JSON]:
    """One element of `tapri runs --json`."""
    return {
        "run_id": run.run_id,
        "workflow": run.workflow,
        "state": str(run.state),
        "logical_date": iso(run.logical_date),
        "trigger": str(run.trigger),
        "started_at": iso(run.started_at),
        "ended_at": iso(run.ended_at),
    }


def attempt_document(attempt: AttemptRecord) -> dict[str, JSON]:
    return {
        "attempt": attempt.attempt,
        "outcome": None if attempt.outcome is None else str(attempt.outcome),
        "started_at": iso(attempt.started_at),
        "ended_at": iso(attempt.ended_at),
        "exit_code": attempt.exit_code,
        "error": attempt.error,
        "killed": attempt.killed,
        "log_path": attempt.log_path,
        "lateness_us": attempt.lateness_us,
    }


def task_document(task: TaskRecord) -> dict[str, JSON]:
    return {
        "state": str(task.state),
        "attempts": task.attempts,
        "output": task.output,
        "reason": task.reason,
    }


def run_document(
    run: RunRecord,
    tasks: Sequence[TaskRecord],
    attempts: Sequence[AttemptRecord] | None = None,
) -> dict[str, JSON]:
    """`tapri run --json`; with ``attempts``, `tapri show --json` (adds ``attempt_list``)."""
    documents = {task.task_id: task_document(task) for task in tasks}
    if attempts is not None:
        for document in documents.values():
            document["attempt_list"] = []
        for attempt in attempts:
            if attempt.task_id in documents:
                documents[attempt.task_id]["attempt_list"].append(attempt_document(attempt))
    return {
        "run_id": run.run_id,
        "workflow": run.workflow,
        "state": str(run.state),
        "logical_date": iso(run.logical_date),
        "tasks": documents,
    }
