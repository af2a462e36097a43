"""APScheduler 3.11 wiring: the only module of tapri that imports apscheduler.

One APScheduler job per scheduled workflow, in an ``AsyncIOScheduler`` with its memory job
store (definitions come from TOML; durable state lives in tapri's own store). Each job uses
``ScheduleTrigger``, which asks the workflow's schedule (cron x calendar x on_holiday x
start/end) for the next instant and wakes ``advance`` before it: the precise lead for
``precise`` workflows, a few ms for the others (the daemon then waits for the exact instant
on the precise clock, because APScheduler's own wake-up rides the event loop's timer).

Jobs run on ``HandOffExecutor``, which does not run anything: for every due time it calls
``on_due(workflow, instant)`` synchronously in the event loop, and the daemon passes the fire
into its own anyio task group through a memory object stream. Runs live there, structured
and cancellable; APScheduler never holds one.

Job options, set explicitly because APScheduler's defaults drop late fires silently:

- ``misfire_grace_time=None``: APScheduler never discards a late fire; lateness is judged
  by ``firing.is_late`` with the fires table as the reference.
- ``coalesce=False``: every due instant is handed over; ``firing`` decides what runs, what is
  queued and what is counted as missed. ``ScheduleTrigger`` never lets APScheduler enumerate
  more than ``late_after`` of backlog (it skips ahead, the daemon counts what was skipped).
- ``max_instances=1``: the hand-off finishes inside ``submit_job``, so an instance never
  outlives it and the limit is never reached; overlap is ``max_active_runs``, handled by
  the daemon (queue or skip, both logged).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from apscheduler.executors.base import BaseExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.base import BaseTrigger

from tapri_daemon.daemon.firing import LATE_AFTER

EXECUTOR = "tapri-handoff"
JOB_OPTIONS: Mapping[str, Any] = {"misfire_grace_time": None, "coalesce": False, "max_instances": 1}

OnDue = Callable[[str, datetime], None]
Floor = Callable[[], datetime | None]


class NextFire(Protocol):
    def next_fire(self, after: datetime) -> datetime | None: ...


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


class ScheduleTrigger(BaseTrigger):  # type: ignore[misc]
    """An APScheduler trigger over a workflow schedule, waking ``advance`` before each instant.

    ``floor`` returns the last recorded fire: nothing at or before it is handed out again (a
    backward clock jump never repeats a fire). When APScheduler is behind by more than
    ``late_after`` (a blocked loop, a jump not yet noticed), the trigger skips ahead to
    ``now - late_after``; the daemon counts the skipped instants from the fires table.
    """

    __slots__ = ("advance", "floor", "late_after", "schedule")

    def __init__(
        self,
        schedule: NextFire,
        *,
        advance: timedelta = timedelta(0),
        floor: Floor = lambda: None,
        late_after: timedelta = LATE_AFTER,
    ) -> None:
        self.schedule = schedule
        self.advance = advance
        self.floor = floor
        self.late_after = late_after

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        after = self._after(previous_fire_time, _utc(now))
        instant = self.schedule.next_fire(after)
        return None if instant is None else _utc(instant) - self.advance

    def _after(self, previous: datetime | None, now: datetime) -> datetime:
        if previous is None:
            after = now
        else:
            after = max(_utc(previous) + self.advance, now - self.late_after)
        floor = self.floor()
        return after if floor is None else max(after, _utc(floor))

    def instant_of(self, wake: datetime) -> datetime:
        """The schedule instant a wake-up time stands for."""
        return _utc(wake) + self.advance

    def __str__(self) -> str:
        return f"tapri schedule (advance {self.advance})"


class HandOffExecutor(BaseExecutor):  # type: ignore[misc]
    """Hands every due time to ``on_due`` at once; never runs or counts a job instance."""

    def __init__(self, on_due: OnDue) -> None:
        super().__init__()
        self.on_due = on_due

    def submit_job(self, job: Any, run_times: list[datetime]) -> None:
        self._do_submit_job(job, run_times)

    def _do_submit_job(self, job: Any, run_times: list[datetime]) -> None:
        trigger: ScheduleTrigger = job.trigger
        for wake in run_times:
            self.on_due(job.id, trigger.instant_of(wake))


@dataclass(frozen=True, kw_only=True)
class JobSpec:
    """One workflow's job: its schedule, how early to wake, and its last recorded fire."""

    workflow: str
    schedule: NextFire
    advance: timedelta
    floor: Floor


class FireScheduler:
    """The AsyncIOScheduler with one job per scheduled workflow; must run inside the loop."""

    def __init__(self, on_due: OnDue) -> None:
        self._scheduler = AsyncIOScheduler(timezone=UTC)
        self._scheduler.add_jobstore(MemoryJobStore(), "default")
        self._scheduler.add_executor(HandOffExecutor(on_due), EXECUTOR)

    @property
    def running(self) -> bool:
        return bool(self._scheduler.running)

    def start(self) -> None:
        self._scheduler.start()

    def shutdown(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)

    def set_jobs(self, specs: Mapping[str, JobSpec]) -> None:
        """Make the jobs exactly ``specs``: add new ones, replace changed ones, drop the rest."""
        for job in self._scheduler.get_jobs():
            if job.id not in specs:
                job.remove()
        for spec in specs.values():
            self._add(spec)

    def _add(self, spec: JobSpec) -> None:
        trigger = ScheduleTrigger(spec.schedule, advance=spec.advance, floor=spec.floor)
        self._scheduler.add_job(
            _never_called,
            trigger=trigger,
            id=spec.workflow,
            name=spec.workflow,
            executor=EXECUTOR,
            replace_existing=True,
            **JOB_OPTIONS,
        )

    def recompute(self) -> None:
        """Recompute every job's next wake-up from now (after a wall-clock jump)."""
        now = datetime.now(UTC)
        for job in self._scheduler.get_jobs():
            job.modify(next_run_time=job.trigger.get_next_fire_time(None, now))
        if self._scheduler.running:
            self._scheduler.wakeup()

    def next_fires(self) -> dict[str, datetime]:
        """Each job's next instant (not its wake-up time)."""
        fires: dict[str, datetime] = {}
        for job in self._scheduler.get_jobs():
            wake = getattr(job, "next_run_time", None)
            if wake is not None:
                fires[job.id] = job.trigger.instant_of(wake)
        return fires

    def job_ids(self) -> set[str]:
        return {job.id for job in self._scheduler.get_jobs()}


def _never_called() -> None:
    """The job function; HandOffExecutor hands fires over instead of calling it."""
    raise AssertionError("tapri jobs are handed over, never called")
