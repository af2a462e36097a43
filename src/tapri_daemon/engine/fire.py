"""An at_fire task around its instant: the instant itself, the late fire, and the task
record of an armed attempt (``waiting`` until the instant, ``running`` from it).

The attempt itself is run by ``attempts.py``, which hands it to the executor before the
instant (docs/executors.md, "Precise fires").
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from tapri_daemon import logs
from tapri_daemon.engine.live import LiveRun, Queued
from tapri_daemon.engine.notices import notify
from tapri_daemon.interfaces import AttemptRecord, AttemptRequest, EventKind, TaskState

FIRE_AT_VARIABLE = "TAPRI_FIRE_AT_NS"
MARK_DELAY = timedelta(milliseconds=50)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def to_ns(instant: datetime) -> int:
    """An aware datetime as ns since the epoch, exactly (no float rounding)."""
    return (instant - _EPOCH) // _MICROSECOND * 1000


def from_ns(ns: int) -> datetime:
    return _EPOCH + timedelta(microseconds=ns // 1000)


@dataclass
class Current:
    """The attempt record as it grows (pid when spawned, outcome when ended)."""

    record: AttemptRecord


def fire_target(live: LiveRun, task_id: str) -> datetime:
    offset = live.shape.workflow.task[task_id].fire_offset
    return live.setup.fire_at + offset if offset is not None else live.setup.fire_at


def with_instant(live: LiveRun, request: AttemptRequest) -> AttemptRequest:
    """A precise run's other tasks see its instant too (to arm themselves; docs/daemon.md)."""
    instant = str(to_ns(live.setup.fire_at))
    return replace(request, env={**request.env, FIRE_AT_VARIABLE: instant})


async def fire_late(live: LiveRun, task_id: str, attempt: int, lateness_us: float) -> None:
    reason = "its upstream tasks were not done at the fire instant"
    live.log.warning(
        logs.FIRE_LATE, task_id=task_id, attempt=attempt, lateness_us=lateness_us, reason=reason
    )
    details = {"lateness_us": lateness_us}
    await notify(
        live, EventKind.FIRE_LATE, task_id=task_id, attempt=attempt, reason=reason, details=details
    )


class Release:
    """An armed attempt's task record: ``waiting`` until its instant, then ``running`` with
    the instant as its start. Marked ``MARK_DELAY`` after the instant (the daemon's own
    writes stay off the CPUs the released task needs), or at the end if that comes first."""

    def __init__(self, live: LiveRun, task_id: str, current: Current, instant: datetime):
        self.live = live
        self.task_id = task_id
        self.current = current
        self.instant = instant
        self.writes: Queued = ()
        self.marked = False

    async def at(self) -> None:
        clock = self.live.services.clock
        due_ns = to_ns(self.instant + MARK_DELAY)
        while (left := due_ns - clock.time_ns()) > 0:  # a coarse sleep: never spins
            await clock.sleep(left / 1e9)
        self.mark()

    def mark(self) -> None:
        if self.marked:
            return
        self.marked = True
        attempt = self.current.record.attempt
        known = self.live.tasks.get(self.task_id)
        running = self.live.task_record(self.task_id, TaskState.RUNNING, attempts=attempt)
        if known is None or known.started_at is None:
            running = replace(running, started_at=self.instant)
        self.writes = self.live.queue_pair(running, self.current.record)
        log_started(self.live, self.task_id, attempt)


def log_started(live: LiveRun, task_id: str, attempt: int) -> None:
    live.log.info(
        logs.TASK_STARTED, task_id=task_id, attempt=attempt, kind=live.shape.kind(task_id)
    )
