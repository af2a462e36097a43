"""Schedule fires: hand-off from APScheduler, catch-up, recording, then the run pool.

Every schedule instant is recorded in the store (``record_fire``, unique per workflow and
instant) *before* its run is created, so a restart or a backward clock jump can never start
the same instant twice (at most once, never twice). Manual triggers are not fires.

APScheduler's job callback is ``hand_off`` (synchronous, never blocks): the fire goes into a
memory object stream; ``consume``, a task of the daemon's task group, starts one handler
task per fire. The handlers of one workflow take its lock in arrival order, so decisions
about one workflow never interleave. Non-precise fires arrive ``EARLY_WAKE`` before their
instant and wait for it on the precise clock; precise fires arrive ``lead`` before it and
the run starts at once (its ``at_fire`` tasks wait for the instant inside the engine).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

import anyio
from anyio.abc import TaskStatus

from tapri_daemon import logs
from tapri_daemon.daemon.firing import (
    Admission,
    FirePlan,
    Schedule,
    is_late,
    plan_due,
    plan_owed,
    replay,
)
from tapri_daemon.daemon.runs import RunPool, WorkflowState
from tapri_daemon.interfaces import (
    Clock,
    Event,
    EventKind,
    FireRecord,
    FireStatus,
    Notifier,
    RunRecord,
    Store,
    Trigger,
)

log = logs.get_logger("tapri.daemon")

_STATUS = {
    Admission.START: FireStatus.STARTED,
    Admission.QUEUE: FireStatus.QUEUED,
    Admission.SKIP: FireStatus.SKIPPED,
}


@dataclass(frozen=True, kw_only=True)
class Due:
    workflow: str
    instant: datetime


class _Once:
    """Calls ``task_status.started()`` at most once."""

    def __init__(self, task_status: TaskStatus[None]) -> None:
        self._task_status: TaskStatus[None] | None = task_status

    def started(self) -> None:
        if self._task_status is not None:
            self._task_status.started()
            self._task_status = None


class FireHandler:
    """Turns schedule instants into recorded fires and runs."""

    def __init__(
        self,
        *,
        pool: RunPool,
        store: Store,
        clock: Clock,
        notifier: Notifier,
        before_precise: Callable[[str], None] = lambda workflow: None,
    ) -> None:
        self.pool = pool
        self.store = store
        self.clock = clock
        self.notifier = notifier
        self.before_precise = before_precise
        """Called before a precise fire is armed (the daemon checks the kernel clock)."""
        self.firing = True
        self._send, self._receive = anyio.create_memory_object_stream[Due](math.inf)

    async def load(self) -> None:
        """Read every workflow's last recorded fire from the store."""
        for name, fire in (await self.store.last_fires()).items():
            state = self.pool.states.get(name)
            if state is not None:
                state.remember(fire.scheduled_for)

    def last_fire(self, workflow: str) -> datetime | None:
        state = self.pool.states.get(workflow)
        return None if state is None else state.last

    # -- from APScheduler -----------------------------------------------------------------
    def hand_off(self, workflow: str, instant: datetime) -> None:
        """APScheduler's job callback: queue the fire for the task group; never blocks."""
        if self.firing:
            self._send.send_nowait(Due(workflow=workflow, instant=instant))

    async def consume(self) -> None:
        async with self._receive:
            async for due in self._receive:
                self.pool.tg.start_soon(self.on_due, due.workflow, due.instant)

    def stop(self) -> None:
        self.firing = False
        self._send.close()

    async def on_due(self, workflow: str, instant: datetime) -> None:
        state = self.pool.states.get(workflow)
        if state is None or state.schedule is None or not state.defined:
            return
        if state.definition.precise:
            self.before_precise(workflow)
        else:
            await self.clock.sleep_until(instant)
        async with state.lock:
            if self.firing:
                await self.apply(state, self._plan_for(state, state.schedule, instant))

    def _plan_for(self, state: WorkflowState, schedule: Schedule, instant: datetime) -> FirePlan:
        now = self.clock.now()
        policy = state.definition.catchup
        if is_late(instant, now):
            return plan_owed(schedule, last=state.last, horizon=now, policy=policy)
        later = schedule.next_fire(instant)
        if policy != "all" and later is not None and later <= now:
            return FirePlan()  # superseded: the next fire counts this one as missed
        return plan_due(schedule, last=state.last, due=instant, policy=policy)

    # -- catch-up -------------------------------------------------------------------------
    async def catch_up(self) -> None:
        """Start-up and forward clock jumps: apply the catch-up rules to every workflow.

        Returns once every decision is recorded; an ``all`` replay waiting for free slots
        goes on in the task group.
        """
        for state in list(self.pool.states.values()):
            if state.scheduled:
                await self.pool.tg.start(self._catch_up_one, state)

    async def _catch_up_one(
        self, state: WorkflowState, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        async with state.lock:
            if state.schedule is None or not self.firing:
                task_status.started()
                return
            policy = state.definition.catchup
            now = self.clock.now()
            plan = plan_owed(state.schedule, last=state.last, horizon=now, policy=policy)
            await self.apply(state, plan, task_status)

    # -- applying a plan ------------------------------------------------------------------
    async def apply(
        self,
        state: WorkflowState,
        plan: FirePlan,
        task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        """Carry out a plan; ``task_status.started()`` once only a replay is left."""
        once = _Once(task_status)
        try:
            await self._apply(state, plan, once)
        finally:
            once.started()

    async def _apply(self, state: WorkflowState, plan: FirePlan, task_status: _Once) -> None:
        if plan.empty:
            return
        if plan.missed:
            await self._missed(state, plan)
        if self.pool.is_paused(state):
            task_status.started()
            await self._skip_paused(state, plan)
            return
        if plan.record_missed is not None:
            await self._record(state, plan.record_missed, FireStatus.MISSED, plan.missed)
        if plan.catchup is not None:
            await self.fire(state, plan.catchup, Trigger.CATCHUP, missed=plan.missed)
        if plan.replays:
            task_status.started()
            await self._replay(state, plan)
        if plan.on_time is not None:
            missed = 0 if plan.replays else plan.missed
            await self.fire(state, plan.on_time, Trigger.SCHEDULE, missed=missed)

    async def _missed(self, state: WorkflowState, plan: FirePlan) -> None:
        since = None if state.last is None else state.last.isoformat()
        policy = state.definition.catchup
        log.warning(
            logs.SCHEDULE_MISSED,
            workflow=state.name,
            missed=plan.missed,
            since=since,
            catchup=policy,
        )
        event = Event(
            kind=EventKind.FIRES_MISSED,
            workflow=state.name,
            at=self.clock.now(),
            reason=f"{plan.missed} scheduled fires missed since {since}",
            details={"missed_count": plan.missed, "catchup": policy, "since": since},
        )
        await self.notifier.notify(event)

    async def _skip_paused(self, state: WorkflowState, plan: FirePlan) -> None:
        latest = plan.on_time or plan.catchup or plan.record_missed or plan.replay_until
        if latest is None:
            return
        if await self._record(state, latest, FireStatus.SKIPPED, plan.missed):
            log.info(logs.FIRE_SKIPPED, workflow=state.name, scheduled_for=latest, reason="paused")

    async def _replay(self, state: WorkflowState, plan: FirePlan) -> None:
        if state.schedule is None or plan.replay_after is None or plan.replay_until is None:
            return
        missed = plan.missed
        for instant in replay(state.schedule, plan.replay_after, plan.replay_until):
            while not state.slots.has_room():
                await state.room.wait()
            if not self.firing:
                return
            await self.fire(state, instant, Trigger.CATCHUP, missed=missed)
            missed = 0

    async def _record(
        self, state: WorkflowState, instant: datetime, status: FireStatus, missed: int = 0
    ) -> FireRecord | None:
        fire = FireRecord(
            workflow=state.name,
            scheduled_for=instant,
            recorded_at=self.clock.now(),
            status=status,
            missed_count=missed,
        )
        recorded = await self.store.record_fire(fire)
        state.remember(instant)
        if not recorded:
            log.debug(logs.FIRE_SKIPPED, workflow=state.name, scheduled_for=instant, reason="seen")
            return None
        log.info(
            logs.FIRE_RECORDED,
            workflow=state.name,
            scheduled_for=instant.isoformat(),
            status=str(status),
            missed=missed,
        )
        return fire

    async def fire(
        self, state: WorkflowState, instant: datetime, trigger: Trigger, *, missed: int = 0
    ) -> RunRecord | None:
        """Record one schedule instant, then start, queue or skip its run."""
        admission = state.slots.admit(state.definition.overlap)
        fire = await self._record(state, instant, _STATUS[admission], missed)
        if fire is None:
            return None
        if admission is Admission.SKIP:
            log.warning(
                logs.FIRE_SKIPPED,
                workflow=state.name,
                scheduled_for=instant.isoformat(),
                reason="max_active_runs",
                active=len(state.slots.active),
            )
            return None
        run = await self.pool.engine.create_run(
            state.name, logical_date=instant, trigger=trigger, scheduled_for=instant
        )
        await self.store.update_fire(replace(fire, run_id=run.run_id))
        fire_at = instant if state.definition.precise and trigger is Trigger.SCHEDULE else None
        self.pool.admit(state, run, admission, fire_at)
        return run
