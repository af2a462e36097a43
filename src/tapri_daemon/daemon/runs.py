"""Runs in the daemon's task group, with max_active_runs per workflow.

``RunPool`` knows every workflow's active and queued runs (``firing.RunSlots``), starts a
run's ``engine.execute`` in the task group, starts the next queued run when one ends, and
lets callers wait for a run's end. It also owns manual triggers, resumed runs, pause and
cancel. Schedule fires reach it through ``fires.FireHandler``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

import anyio
from anyio.abc import TaskGroup

from tapri_daemon import logs
from tapri_daemon.daemon.firing import Admission, RunSlots, Schedule
from tapri_daemon.errors import ControlError, NotFoundError
from tapri_daemon.interfaces import Clock, RunRecord, RunState, Store, Trigger
from tapri_daemon.model import Workflow

log = logs.get_logger("tapri.daemon")


class RunEngine(Protocol):
    """What the daemon needs of ``engine.engine.Engine``."""

    async def create_run(
        self,
        workflow: str,
        *,
        logical_date: datetime,
        trigger: Trigger,
        params: Mapping[str, Any] | None = None,
        scheduled_for: datetime | None = None,
    ) -> RunRecord: ...

    async def execute(self, run_id: str, *, fire_at: datetime | None = None) -> RunRecord: ...

    def cancel(self, run_id: str, reason: str = ...) -> bool: ...

    def running(self) -> list[str]: ...


@dataclass
class WorkflowState:
    """What the daemon remembers of one workflow between fires."""

    name: str
    definition: Workflow
    schedule: Schedule | None
    slots: RunSlots
    last: datetime | None = None
    """The latest recorded fire instant."""
    lock: anyio.Lock = field(default_factory=anyio.Lock)
    room: anyio.Event = field(default_factory=anyio.Event)
    """Set (and replaced) whenever a run of this workflow ends."""
    defined: bool = True
    """False once a reload removed the workflow (its runs still finish)."""

    def remember(self, instant: datetime) -> None:
        self.last = instant if self.last is None else max(self.last, instant)

    @property
    def scheduled(self) -> bool:
        return self.defined and self.schedule is not None


class RunPool:
    """Every workflow's runs in the daemon's task group."""

    def __init__(self, *, engine: RunEngine, store: Store, clock: Clock) -> None:
        self.engine = engine
        self.store = store
        self.clock = clock
        self.states: dict[str, WorkflowState] = {}
        self.paused: set[str] = set()
        self.accepting = True
        self._tg: TaskGroup | None = None
        self._fire_at: dict[str, datetime | None] = {}
        self._ended: dict[str, anyio.Event] = {}
        self._idle = anyio.Event()
        self._idle.set()

    # -- wiring ---------------------------------------------------------------------------
    def bind(self, tg: TaskGroup) -> None:
        self._tg = tg

    @property
    def tg(self) -> TaskGroup:
        if self._tg is None:
            raise RuntimeError("RunPool.bind(task_group) first")
        return self._tg

    def use(self, workflows: Mapping[str, Workflow], schedules: Mapping[str, Schedule]) -> None:
        """Swap definitions; a removed workflow keeps its state while its runs finish."""
        for name, definition in workflows.items():
            state = self.states.get(name)
            if state is None:
                self.states[name] = WorkflowState(
                    name=name,
                    definition=definition,
                    schedule=schedules.get(name),
                    slots=RunSlots.of(definition.max_active_runs),
                )
                continue
            state.definition, state.schedule, state.defined = definition, schedules.get(name), True
            state.slots.limit = definition.max_active_runs
            self._start_all(state, state.slots.release())
        for name in set(self.states) - set(workflows):
            self.states[name].schedule = None
            self.states[name].defined = False

    async def load_paused(self) -> None:
        self.paused = set(await self.store.paused())

    def stop(self) -> None:
        """No new runs from now on; queued runs stay queued in the store for the next start."""
        self.accepting = False

    # -- running --------------------------------------------------------------------------
    def admit(
        self, state: WorkflowState, run: RunRecord, admission: Admission, fire_at: datetime | None
    ) -> None:
        """Start the run now or queue it (admission decided by ``RunSlots.admit``)."""
        self._fire_at[run.run_id] = fire_at
        self._ended.setdefault(run.run_id, anyio.Event())
        if admission is Admission.QUEUE:
            state.slots.enqueue(run.run_id)
            log.info(
                logs.FIRE_QUEUED,
                workflow=state.name,
                run_id=run.run_id,
                scheduled_for=run.scheduled_for,
                active=len(state.slots.active),
            )
            return
        state.slots.start(run.run_id)
        self._start(state, run.run_id)

    def _start(self, state: WorkflowState, run_id: str) -> None:
        self._idle = anyio.Event() if self._idle.is_set() else self._idle
        self.tg.start_soon(self._execute, state, run_id)

    def _start_all(self, state: WorkflowState, run_ids: list[str]) -> None:
        for run_id in run_ids:
            self._start(state, run_id)

    async def _execute(self, state: WorkflowState, run_id: str) -> None:
        try:
            await self.engine.execute(run_id, fire_at=self._fire_at.pop(run_id, None))
        finally:
            state.slots.active.discard(run_id)
            if self.accepting:
                self._start_all(state, state.slots.release())
            state.room.set()
            state.room = anyio.Event()
            self._ended.pop(run_id, anyio.Event()).set()
            if not self.active():
                self._idle.set()

    async def idle(self) -> None:
        """Return once no run is executing."""
        await self._idle.wait()

    async def wait(self, run_id: str) -> RunRecord:
        """Return the run once it has ended."""
        ended = self._ended.get(run_id)
        if ended is not None:
            await ended.wait()
        run = await self.store.get_run(run_id)
        if run is None:
            raise NotFoundError("run", run_id)
        return run

    # -- manual runs, resumed runs --------------------------------------------------------
    def state_of(self, workflow: str) -> WorkflowState:
        state = self.states.get(workflow)
        if state is None or not state.defined:
            known = sorted(name for name, s in self.states.items() if s.defined)
            raise NotFoundError("workflow", workflow, known)
        return state

    async def trigger(
        self, workflow: str, *, params: Mapping[str, Any], at: datetime | None = None
    ) -> RunRecord:
        """A manual run now, or armed for ``at`` (precise workflows: lead before it)."""
        if not self.accepting:
            raise ControlError("trigger", "the daemon is stopping")
        state = self.state_of(workflow)
        instant = at or self.clock.now()
        run = await self.engine.create_run(
            workflow, logical_date=instant, trigger=Trigger.MANUAL, params=params
        )
        self._ended.setdefault(run.run_id, anyio.Event())
        self.tg.start_soon(self._arm, state, run, at)
        return run

    async def _arm(self, state: WorkflowState, run: RunRecord, at: datetime | None) -> None:
        precise = state.definition.precise
        if at is not None:
            lead = state.definition.effective_lead if precise else timedelta(0)
            await self.clock.sleep_until(at - lead)
        fire_at = (at or run.logical_date) if precise else None
        self.admit(state, run, state.slots.admit("queue", force_queue=True), fire_at)

    async def resume(self, runs: list[RunRecord]) -> None:
        """Continue the runs a previous daemon left unfinished (oldest first)."""
        for run in runs:
            state = self.states.get(run.workflow)
            if state is None or not state.defined:
                self.tg.start_soon(self._resume_orphan, run)  # the engine fails it, logged
                continue
            precise = state.definition.precise and run.trigger is Trigger.SCHEDULE
            was_running = run.state is RunState.RUNNING
            admission = (
                Admission.START if was_running else state.slots.admit("queue", force_queue=True)
            )
            log.info(
                logs.RUN_RECOVERED,
                workflow=run.workflow,
                run_id=run.run_id,
                state=str(run.state),
                admission=str(admission),
            )
            self.admit(state, run, admission, run.scheduled_for if precise else None)

    async def _resume_orphan(self, run: RunRecord) -> None:
        await self.engine.execute(run.run_id)

    # -- pause, cancel, what runs ---------------------------------------------------------
    async def set_paused(self, workflow: str, paused: bool) -> None:
        self.state_of(workflow)
        await self.store.set_paused(workflow, paused)
        if paused:
            self.paused.add(workflow)
        else:
            self.paused.discard(workflow)

    def is_paused(self, state: WorkflowState) -> bool:
        return state.name in self.paused or state.definition.paused

    def cancel(self, run_id: str, reason: str) -> bool:
        for state in self.states.values():
            if run_id in state.slots.queued:
                state.slots.queued.remove(run_id)
                self.tg.start_soon(self._cancel_queued, state, run_id, reason)
                return True
        return self.engine.cancel(run_id, reason)

    async def _cancel_queued(self, state: WorkflowState, run_id: str, reason: str) -> None:
        run = await self.store.get_run(run_id)
        if run is not None and not run.state.finished:
            now = self.clock.now()
            ended = replace(run, state=RunState.CANCELLED, ended_at=now, reason=reason)
            await self.store.save_run(ended)
        log.info(logs.RUN_CANCELLED, workflow=state.name, run_id=run_id, reason=reason)
        self._fire_at.pop(run_id, None)
        self._ended.pop(run_id, anyio.Event()).set()

    def queued(self) -> dict[str, list[str]]:
        return {n: list(s.slots.queued) for n, s in self.states.items() if s.slots.queued}

    def active(self) -> dict[str, list[str]]:
        return {n: sorted(s.slots.active) for n, s in self.states.items() if s.slots.active}
