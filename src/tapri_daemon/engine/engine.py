"""The Engine: creates runs, executes or resumes them, retries them, cancels them.

It knows nothing of APScheduler, sockets or signals: the daemon and ``tapri run`` call it.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from tapri_daemon import logs, zones
from tapri_daemon.credentials import Sources
from tapri_daemon.engine import params as run_params
from tapri_daemon.engine.config import EngineConfig, Services
from tapri_daemon.engine.ids import new_run_id
from tapri_daemon.engine.limits import Pools, Slots
from tapri_daemon.engine.live import LiveRun, RunSetup
from tapri_daemon.engine.run import RunExecution
from tapri_daemon.engine.shape import Shape
from tapri_daemon.engine.timeline import data_interval
from tapri_daemon.errors import NotFoundError, TapriError
from tapri_daemon.interfaces import (
    AttemptRecord,
    Clock,
    Executor,
    Notifier,
    RunRecord,
    RunState,
    Store,
    TaskRecord,
    TaskState,
    Trigger,
)
from tapri_daemon.model import Definitions

_RETRYABLE = (TaskState.FAILED, TaskState.UPSTREAM_FAILED, TaskState.CANCELLED)


class HasDefinitions(Protocol):
    """What the engine needs of ``spec.load.Loaded``."""

    @property
    def definitions(self) -> Definitions: ...

    def base_dir_of(self, workflow_id: str) -> Path: ...


class RunStateError(TapriError):
    """A run cannot do what was asked in its state (executing already, nothing to retry)."""

    def __init__(self, run_id: str, doing: str) -> None:
        super().__init__(f'run "{run_id}" {doing}')


class Engine:
    """Runs workflows: one structured task group per run, limits shared by all runs."""

    def __init__(
        self,
        *,
        config: EngineConfig,
        store: Store,
        executor: Executor,
        clock: Clock,
        notifier: Notifier,
        definitions: HasDefinitions | Definitions,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self.services = Services(
            config=config,
            store=store,
            executor=executor,
            clock=clock,
            notifier=notifier,
            slots=Slots(config.max_parallel_tasks),
            pools=Pools(),
            rng=rng or random.Random(),
        )
        self._running: dict[str, RunExecution] = {}
        self._log = logs.get_logger()
        self.use(definitions)

    # -- definitions --------------------------------------------------------------------
    def use(self, definitions: HasDefinitions | Definitions) -> None:
        """New runs use these definitions; runs already executing keep theirs."""
        if isinstance(definitions, Definitions):
            self._definitions, self._loaded = definitions, None
        else:
            self._definitions, self._loaded = definitions.definitions, definitions
        self._shapes: dict[str, Shape] = {}
        self.services.pools.update(self._definitions.pool)

    @property
    def definitions(self) -> Definitions:
        return self._definitions

    def shape(self, workflow: str) -> Shape:
        """The workflow's graph and settings (NotFoundError for an unknown workflow)."""
        found = self._shapes.get(workflow)
        if found is None:
            if workflow not in self._definitions.workflow:
                raise NotFoundError("workflow", workflow, self._definitions.workflow)
            found = self._shapes[workflow] = Shape(self._definitions, workflow)
        return found

    # -- runs ---------------------------------------------------------------------------
    async def create_run(
        self,
        workflow: str,
        *,
        logical_date: datetime,
        trigger: Trigger,
        params: Mapping[str, Any] | None = None,
        scheduled_for: datetime | None = None,
        run_id: str | None = None,
    ) -> RunRecord:
        """Validate params against the declared ones and save the run as queued."""
        shape = self.shape(workflow)
        merged = run_params.merge(workflow, shape.workflow.params, params)
        record = RunRecord(
            run_id=run_id or new_run_id(workflow, logical_date),
            workflow=workflow,
            logical_date=logical_date,
            trigger=trigger,
            state=RunState.QUEUED,
            params=merged,
            queued_at=self.services.clock.now(),
            scheduled_for=scheduled_for,
            daemon_id=self.config.daemon_id,
        )
        await self.services.store.save_run(record)
        self._log.info(
            logs.RUN_QUEUED,
            workflow=workflow,
            run_id=record.run_id,
            trigger=str(trigger),
            logical_date=logical_date.isoformat(),
        )
        return record

    async def execute(self, run_id: str, *, fire_at: datetime | None = None) -> RunRecord:
        """Run (or resume) a run until it ends; returns its final record."""
        return await self._execute(await self._get_run(run_id), fire_at=fire_at)

    async def retry(
        self, run_id: str, *, task: str | None = None, downstream: bool = False
    ) -> RunRecord:
        """Reset failed tasks (or ``task``, and with ``downstream`` what follows it) and run."""
        record = await self._get_run(run_id)
        if run_id in self._running:
            raise RunStateError(run_id, "is still running; wait for it or cancel it first")
        shape = self.shape(record.workflow)
        tasks = {t.task_id: t for t in await self.services.store.get_tasks(run_id)}
        chosen = _chosen_for_retry(shape, tasks, task, downstream)
        if not chosen:
            raise RunStateError(run_id, "has no failed, upstream_failed or cancelled task to retry")
        budget = await self._reset(record, tasks, chosen)
        requeued = replace(record, state=RunState.QUEUED, ended_at=None, reason=None)
        await self.services.store.save_run(requeued)
        return await self._execute(requeued, budget_base=budget, previous_state=record.state)

    def cancel(self, run_id: str, reason: str = "cancelled") -> bool:
        """Cancel an executing run (its running tasks are stopped); False if not executing."""
        execution = self._running.get(run_id)
        if execution is None:
            return False
        stopped = execution.stop(reason, RunState.CANCELLED)
        if stopped:
            execution.live.log.info(logs.RUN_CANCELLED, reason=reason)
        return stopped

    def running(self) -> list[str]:
        """The ids of the runs executing now."""
        return list(self._running)

    # -- internals ----------------------------------------------------------------------
    async def _get_run(self, run_id: str) -> RunRecord:
        record = await self.services.store.get_run(run_id)
        if record is None:
            raise NotFoundError("run", run_id)
        return record

    async def _execute(
        self,
        record: RunRecord,
        *,
        fire_at: datetime | None = None,
        budget_base: Mapping[str, int] | None = None,
        previous_state: RunState | None = None,
    ) -> RunRecord:
        if record.state.finished:
            return record
        if record.run_id in self._running:
            raise RunStateError(record.run_id, "is already executing")
        if record.workflow not in self._definitions.workflow:
            return await self._orphaned(record)
        live = await self._live(record, fire_at, budget_base or {}, previous_state)
        execution = RunExecution(live)
        self._running[record.run_id] = execution
        try:
            return await execution.execute()
        finally:
            del self._running[record.run_id]

    async def _orphaned(self, record: RunRecord) -> RunRecord:
        now = self.services.clock.now()
        reason = f'workflow "{record.workflow}" is no longer defined'
        final = replace(record, state=RunState.FAILED, reason=reason, ended_at=now)
        await self.services.store.save_run(final)
        self._log.warning(
            logs.RUN_FINISHED,
            workflow=record.workflow,
            run_id=record.run_id,
            state="failed",
            reason=reason,
        )
        return final

    async def _live(
        self,
        record: RunRecord,
        fire_at: datetime | None,
        budget_base: Mapping[str, int],
        previous_state: RunState | None,
    ) -> LiveRun:
        store = self.services.store
        tasks = {t.task_id: t for t in await store.get_tasks(record.run_id)}
        last: dict[str, AttemptRecord] = {}
        if tasks:
            last = _last_attempts(await store.get_attempts(record.run_id))
        setup = replace(self._setup(record, fire_at), previous_state=previous_state)
        return LiveRun(
            setup, self.services, tasks=tasks, last_attempts=last, budget_base=budget_base
        )

    def _setup(self, record: RunRecord, fire_at: datetime | None) -> RunSetup:
        shape = self.shape(record.workflow)
        workflow = shape.workflow
        zone_name = workflow.timezone or self.config.default_timezone
        start, end = data_interval(shape.schedule(zone_name), record.logical_date)
        base_dir = self._loaded.base_dir_of(record.workflow) if self._loaded else None
        extra = (str(base_dir),) if base_dir is not None else ()
        return RunSetup(
            record=record,
            shape=shape,
            zone=zones.zone(zone_name),
            interval_start=start,
            interval_end=end,
            fire_at=fire_at or record.scheduled_for or record.logical_date,
            python_path=(*self.config.python_path, *extra),
            base_dir=base_dir,
            log_dir=self.config.log_dir / record.workflow / record.run_id,
            sources=Sources.from_process(self.config.credentials_dir),
            is_working_day=shape.is_working_day,
        )

    async def _reset(
        self, record: RunRecord, tasks: Mapping[str, TaskRecord], chosen: Sequence[str]
    ) -> dict[str, int]:
        """Save the chosen tasks as pending; each gets a fresh retry budget."""
        budget: dict[str, int] = {}
        for task_id in chosen:
            known = tasks.get(task_id)
            attempts = known.attempts if known else 0
            budget[task_id] = attempts
            pending = TaskRecord(
                run_id=record.run_id, task_id=task_id, state=TaskState.PENDING, attempts=attempts
            )
            await self.services.store.save_task(pending)
        self._log.info(
            logs.RUN_QUEUED,
            workflow=record.workflow,
            run_id=record.run_id,
            trigger=str(Trigger.RETRY),
            tasks=list(chosen),
        )
        return budget


def _last_attempts(attempts: Sequence[AttemptRecord]) -> dict[str, AttemptRecord]:
    last: dict[str, AttemptRecord] = {}
    for attempt in attempts:
        known = last.get(attempt.task_id)
        if known is None or attempt.attempt > known.attempt:
            last[attempt.task_id] = attempt
    return last


def _race_won(shape: Shape, tasks: Mapping[str, TaskRecord], race: str) -> bool:
    return any(
        tasks.get(m) is not None and tasks[m].state is TaskState.SUCCESS for m in shape.races[race]
    )


def _retryable(shape: Shape, tasks: Mapping[str, TaskRecord], task_id: str) -> bool:
    known = tasks.get(task_id)
    if known is None or known.state not in _RETRYABLE:
        return False
    race = shape.workflow.task[task_id].race
    return race is None or not _race_won(shape, tasks, race)


def _chosen_for_retry(
    shape: Shape, tasks: Mapping[str, TaskRecord], task: str | None, downstream: bool
) -> list[str]:
    """The tasks ``retry`` resets, in graph order."""
    if task is None:
        return [t for t in shape.graph.order if _retryable(shape, tasks, t)]
    if task not in shape.workflow.task:
        raise NotFoundError(f'task of workflow "{shape.workflow_id}"', task, shape.workflow.task)
    chosen = {task}
    race = shape.workflow.task[task].race
    if race is not None:
        chosen |= shape.races[race]
    if downstream:
        for member in list(chosen):
            chosen |= shape.graph.descendants(member)
    return [t for t in shape.graph.order if t in chosen]
