"""One run while it executes: its fixed setup and the state its tasks share."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, Protocol, runtime_checkable
from zoneinfo import ZoneInfo

import anyio

from tapri_daemon import logs
from tapri_daemon.credentials import Sources
from tapri_daemon.engine.config import Services
from tapri_daemon.engine.limits import Slots
from tapri_daemon.engine.progress import Progress
from tapri_daemon.engine.shape import Shape
from tapri_daemon.interfaces import (
    JSON,
    AttemptRecord,
    AttemptResult,
    RunInfo,
    RunRecord,
    RunState,
    Store,
    TaskRecord,
    TaskState,
)
from tapri_daemon.model import TaskSettings

Queued = tuple["asyncio.Future[Any]", ...]


def _wake(waiter: asyncio.Future[None], _: asyncio.Future[Any]) -> None:
    if not waiter.done():
        waiter.set_result(None)


def _retrieve(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


async def committed(queued: Queued) -> None:
    """Wait until every queued write is committed.

    A waiter's cancellation leaves the writes and their futures alone (as
    ``asyncio.shield``, lighter): awaiting a future directly would cancel it, and a later
    waiter (the attempt's shielded clean-up) would then get CancelledError, not the commit.
    """
    for index, future in enumerate(queued):
        try:
            if not future.done():
                waiter = future.get_loop().create_future()
                future.add_done_callback(functools.partial(_wake, waiter))
                await waiter
            future.result()
        except BaseException:
            for rest in queued[index + 1 :]:
                rest.add_done_callback(_retrieve)
            raise


@runtime_checkable
class Batching(Protocol):
    """A store that takes task and attempt records as one write and returns at once
    (``SQLiteStore.submit``, ``MemoryStore.submit``): the future resolves on the commit."""

    def submit(
        self, *, tasks: Sequence[TaskRecord] = (), attempts: Sequence[AttemptRecord] = ()
    ) -> asyncio.Future[Any]: ...


Submit = Callable[..., "asyncio.Future[Any]"]


def submitter(store: Store) -> Submit:
    """``store.submit``, or the same through the Store protocol's awaited writes."""
    if isinstance(store, Batching):
        return store.submit

    def submit(
        *, tasks: Sequence[TaskRecord] = (), attempts: Sequence[AttemptRecord] = ()
    ) -> asyncio.Future[Any]:
        saves = [*map(store.save_attempt, attempts), *map(store.save_task, tasks)]
        return asyncio.gather(*saves)  # queued in this order

    return submit


@dataclass(frozen=True, kw_only=True)
class RunSetup:
    """Everything about a run that does not change while it executes."""

    record: RunRecord
    shape: Shape
    zone: ZoneInfo
    interval_start: datetime
    interval_end: datetime
    fire_at: datetime
    """The instant at_fire tasks wait for (plus their fire_offset)."""
    python_path: tuple[str, ...]
    base_dir: Path | None
    """The folder of the workflow's file (relative database paths start there)."""
    log_dir: Path
    """This run's attempt log folder."""
    sources: Sources
    is_working_day: Callable[[date], bool]
    previous_state: RunState | None = None
    """The state the run had before ``Engine.retry`` queued it again."""

    @property
    def run_id(self) -> str:
        return self.record.run_id

    @property
    def workflow_id(self) -> str:
        return self.record.workflow


@dataclass(frozen=True, kw_only=True)
class Ended:
    """An attempt that ended; saved together with the task record that follows from it."""

    record: AttemptRecord
    result: AttemptResult
    start: Queued = ()
    """The writes of the attempt's start, perhaps not committed yet."""


@dataclass(frozen=True, kw_only=True)
class TaskEnd:
    """How a task ended."""

    state: TaskState
    attempts: int
    output: JSON = None
    reason: str | None = None
    ended: Ended | None = None
    """The last attempt, when it is not saved yet."""


class LiveRun:
    """The mutable state of one executing run, shared by its task coroutines."""

    def __init__(
        self,
        setup: RunSetup,
        services: Services,
        *,
        tasks: Mapping[str, TaskRecord],
        last_attempts: Mapping[str, AttemptRecord],
        budget_base: Mapping[str, int],
    ) -> None:
        self.setup = setup
        self.services = services
        self.shape = setup.shape
        self.progress = Progress(setup.shape.workflow, setup.shape.graph)
        self.tasks = dict(tasks)
        self.last_attempts = dict(last_attempts)
        self.budget_base = dict(budget_base)
        self.outputs: dict[str, JSON] = {
            tid: rec.output for tid, rec in tasks.items() if rec.state is TaskState.SUCCESS
        }
        self.scopes: dict[str, anyio.CancelScope] = {}
        self.cancel_reasons: dict[str, str] = {}
        self.stop_reason: str | None = None
        self.log: Any = logs.get_logger().bind(workflow=setup.workflow_id, run_id=setup.run_id)
        limit = setup.shape.workflow.max_active_tasks
        self.workflow_slots = Slots(limit) if limit is not None else None
        self.secrets: set[str] = set()
        self.run_infos: dict[int, tuple[RunInfo, dict[str, JSON]]] = {}
        self.log_folder = str(setup.log_dir)
        self._submit = submitter(services.store)

    # -- lookups ------------------------------------------------------------------------
    def settings(self, task_id: str) -> TaskSettings:
        return self.shape.settings(task_id)

    def slots_for(self, task_id: str) -> list[Slots]:
        """Pool, workflow and engine slots, in the order they are taken."""
        pool = self.services.pools.get(self.settings(task_id).pool)
        chosen = [pool] if pool is not None else []
        if self.workflow_slots is not None:
            chosen.append(self.workflow_slots)
        chosen.append(self.services.slots)
        return chosen

    def outputs_for(self, task_id: str) -> dict[str, JSON]:
        """The outputs a task sees (the order of its ancestors has no meaning)."""
        outputs = self.outputs
        visible = self.shape.visible(task_id)
        try:  # usually every ancestor succeeded: the whole copy happens in C
            return dict(zip(visible, map(outputs.__getitem__, visible), strict=True))
        except KeyError:
            return {k: outputs[k] for k in visible if k in outputs}

    def now(self) -> datetime:
        return self.services.clock.now()

    @property
    def stopping(self) -> bool:
        return self.stop_reason is not None

    # -- records ------------------------------------------------------------------------
    def task_record(
        self,
        task_id: str,
        state: TaskState,
        *,
        attempts: int | None = None,
        output: JSON = None,
        reason: str | None = None,
    ) -> TaskRecord:
        """The next record of a task: ``started_at`` kept, ``ended_at`` set when finished."""
        known = self.tasks.get(task_id)
        now = self.now()
        started = known.started_at if known and known.started_at else None
        if started is None and state is TaskState.RUNNING:
            started = now
        return TaskRecord(
            run_id=self.setup.run_id,
            task_id=task_id,
            state=state,
            attempts=attempts if attempts is not None else (known.attempts if known else 0),
            output=output,
            reason=reason,
            started_at=started,
            ended_at=now if state.finished else None,
        )

    async def save_task(self, record: TaskRecord) -> None:
        self.tasks[record.task_id] = record
        if not record.state.finished:
            self.progress.set_state(record.task_id, record.state)
        await self._submit(tasks=(record,))

    async def save_tasks(self, records: list[TaskRecord]) -> None:
        """Save many task records as one write (one commit)."""
        if len(records) == 1:
            await self.save_task(records[0])
            return
        for record in records:
            self.tasks[record.task_id] = record
        await self._submit(tasks=records)

    async def save_attempt(self, record: AttemptRecord) -> None:
        self.last_attempts[record.task_id] = record
        await self._submit(attempts=(record,))

    def queue_pair(self, task: TaskRecord, attempt: AttemptRecord) -> Queued:
        """Queue a task and an attempt record for the store without waiting for the commit.

        ``committed(queued)`` waits for both (one write: they commit together). The store
        commits in queue order, so a write queued later (the attempt's pid, its end) never
        lands before these.
        """
        self._remember(task, attempt)
        return (self._submit(tasks=(task,), attempts=(attempt,)),)

    async def save_pair(self, task: TaskRecord, attempt: AttemptRecord, after: Queued = ()) -> None:
        """Save a task and an attempt record as one write, after the writes ``after``.

        Both are committed when this returns (one wait on the hot path: the writes queued
        before are in the same commit, or an earlier one).
        """
        await committed((*after, *self.queue_pair(task, attempt)))

    def _remember(self, task: TaskRecord, attempt: AttemptRecord) -> None:
        self.tasks[task.task_id] = task
        if not task.state.finished:
            self.progress.set_state(task.task_id, task.state)
        self.last_attempts[attempt.task_id] = attempt

    # -- cancelling -----------------------------------------------------------------------
    def cancel_task(self, task_id: str, reason: str) -> None:
        """Cancel one task now, or as soon as it would start."""
        self.cancel_reasons.setdefault(task_id, reason)
        scope = self.scopes.get(task_id)
        if scope is not None:
            scope.cancel()
