"""MemoryStore: the Store seam in a process's memory, for unit tests of engine and daemon.

It behaves like SQLiteStore in everything a caller can observe: records go through the
same codec (so datetimes come back in UTC, JSON values come back as fresh copies, a value
json cannot encode is refused), orderings are the same, and fires are unique per
(workflow, scheduled_for). Nothing is durable, and writes are committed at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from tapri_daemon.interfaces import (
    AttemptRecord,
    DaemonRecord,
    FireRecord,
    RunRecord,
    RunState,
    TaskRecord,
    WorkflowStats,
)
from tapri_daemon.store import codec
from tapri_daemon.store.stats import compute_stats

_TaskKey = tuple[str, str]
_AttemptKey = tuple[str, str, int]
_FireKey = tuple[str, int]


def _settle(future: asyncio.Future[int], error: Exception | None) -> None:
    if future.done():
        return
    if error is None:
        future.set_result(0)
    else:
        future.set_exception(error)


def _stored_task(task: TaskRecord) -> TaskRecord:
    return codec.task_from_row(codec.task_row(task), codec.output_row(task)[2])


def _newest_first(runs: Iterable[RunRecord]) -> list[RunRecord]:
    return sorted(runs, key=lambda r: (r.queued_at, r.run_id), reverse=True)


class MemoryStore:
    """A real, in-memory implementation of ``interfaces.Store``."""

    def __init__(self) -> None:
        self._runs: dict[str, RunRecord] = {}
        self._tasks: dict[_TaskKey, TaskRecord] = {}
        self._attempts: dict[_AttemptKey, AttemptRecord] = {}
        self._fires: dict[_FireKey, FireRecord] = {}
        self._paused: set[str] = set()
        self._daemons: dict[str, DaemonRecord] = {}
        self.writes = 0
        """How many writes were committed (tests assert on persistence traffic)."""

    # writes

    async def save_run(self, run: RunRecord) -> None:
        self._runs[run.run_id] = codec.run_from_row(codec.run_row(run))
        self.writes += 1

    async def save_task(self, task: TaskRecord) -> None:
        self._tasks[(task.run_id, task.task_id)] = _stored_task(task)
        self.writes += 1

    async def save_attempt(self, attempt: AttemptRecord) -> None:
        key = (attempt.run_id, attempt.task_id, attempt.attempt)
        self._attempts[key] = codec.attempt_from_row(codec.attempt_row(attempt))
        self.writes += 1

    def submit(
        self, *, tasks: Sequence[TaskRecord] = (), attempts: Sequence[AttemptRecord] = ()
    ) -> asyncio.Future[int]:
        """As ``SQLiteStore.submit``: all or nothing. The records are stored at once; the
        future resolves in the next loop iteration, as a commit would (callbacks added to
        it now run after the caller's current step, as with the real store)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[int] = loop.create_future()
        try:
            stored = [codec.attempt_from_row(codec.attempt_row(a)) for a in attempts]
            stored_tasks = [_stored_task(t) for t in tasks]
        except Exception as exc:
            loop.call_soon(_settle, future, exc)
            return future
        for a in stored:
            self._attempts[(a.run_id, a.task_id, a.attempt)] = a
        for t in stored_tasks:
            self._tasks[(t.run_id, t.task_id)] = t
        self.writes += 1
        loop.call_soon(_settle, future, None)
        return future

    async def record_fire(self, fire: FireRecord) -> bool:
        key = (fire.workflow, codec.to_us(fire.scheduled_for))
        if key in self._fires:
            return False
        self._fires[key] = codec.fire_from_row(codec.fire_row(fire))
        self.writes += 1
        return True

    async def update_fire(self, fire: FireRecord) -> None:
        key = (fire.workflow, codec.to_us(fire.scheduled_for))
        if key in self._fires:
            self._fires[key] = codec.fire_from_row(codec.fire_row(fire))
            self.writes += 1

    async def set_paused(self, workflow: str, paused: bool) -> None:
        if paused:
            self._paused.add(workflow)
        else:
            self._paused.discard(workflow)
        self.writes += 1

    async def delete_runs(self, run_ids: Sequence[str]) -> None:
        doomed = set(run_ids)
        self._tasks = {k: v for k, v in self._tasks.items() if k[0] not in doomed}
        self._attempts = {k: v for k, v in self._attempts.items() if k[0] not in doomed}
        self._runs = {k: v for k, v in self._runs.items() if k not in doomed}
        self.writes += 1

    async def record_daemon(self, daemon: DaemonRecord) -> None:
        self._daemons[daemon.daemon_id] = codec.daemon_from_row(codec.daemon_row(daemon))
        self.writes += 1

    # reads

    async def get_run(self, run_id: str) -> RunRecord | None:
        return self._runs.get(run_id)

    async def list_runs(
        self, *, workflow: str | None = None, states: Sequence[RunState] = (), limit: int = 50
    ) -> list[RunRecord]:
        chosen = [
            run
            for run in self._runs.values()
            if workflow in (None, run.workflow) and (not states or run.state in states)
        ]
        return _newest_first(chosen)[:limit]

    async def get_tasks(self, run_id: str) -> list[TaskRecord]:
        return [task for key, task in self._tasks.items() if key[0] == run_id]

    async def get_attempts(self, run_id: str, task_id: str | None = None) -> list[AttemptRecord]:
        return [
            a
            for a in self._attempts.values()
            if a.run_id == run_id and (task_id is None or a.task_id == task_id)
        ]

    async def last_fire(self, workflow: str) -> FireRecord | None:
        fires = [f for f in self._fires.values() if f.workflow == workflow]
        return max(fires, key=lambda f: f.scheduled_for, default=None)

    async def last_fires(self) -> dict[str, FireRecord]:
        latest: dict[str, FireRecord] = {}
        for fire in self._fires.values():
            known = latest.get(fire.workflow)
            if known is None or fire.scheduled_for > known.scheduled_for:
                latest[fire.workflow] = fire
        return latest

    async def unfinished_runs(self) -> list[RunRecord]:
        runs = [run for run in self._runs.values() if not run.state.finished]
        return sorted(runs, key=lambda r: (r.queued_at, r.run_id))

    async def running_attempts(self) -> list[AttemptRecord]:
        return [a for a in self._attempts.values() if a.outcome is None]

    async def paused(self) -> set[str]:
        return set(self._paused)

    async def finished_runs_before(self, instant: datetime) -> list[RunRecord]:
        runs = [
            r
            for r in self._runs.values()
            if r.state.finished and (r.ended_at or r.queued_at) < instant
        ]
        return sorted(runs, key=lambda r: (r.ended_at or r.queued_at, r.run_id))

    async def run_stats(
        self,
        since: datetime,
        workflow: str | None = None,
        *,
        late_after: timedelta = timedelta(milliseconds=1),
    ) -> list[WorkflowStats]:
        runs = [
            r
            for r in self._runs.values()
            if r.queued_at >= since and (workflow is None or r.workflow == workflow)
        ]
        ids = {r.run_id for r in runs}
        attempts = [a for a in self._attempts.values() if a.run_id in ids]
        fires = [
            f
            for f in self._fires.values()
            if f.scheduled_for >= since and (workflow is None or f.workflow == workflow)
        ]
        return compute_stats(runs, attempts, fires, late_after=late_after)

    async def daemon_instances(self, limit: int = 20) -> list[DaemonRecord]:
        newest = sorted(self._daemons.values(), key=lambda d: d.started_at, reverse=True)
        return newest[:limit]
