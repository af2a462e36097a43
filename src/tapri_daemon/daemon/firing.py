"""Fire decisions, pure: catch-up after downtime, and max_active_runs / overlap.

Nothing here does I/O or reads a clock; ``now`` (the horizon) is passed in.

Catch-up. The instants owed to a workflow are the schedule instants after its last recorded
fire, up to the horizon. They are *counted* (``count_between``), never listed, so a
``* * * * *`` workflow down for three days costs one count, not a 4,320-item list.

- At start-up, after a forward clock jump, or for a fire handed over more than
  ``LATE_AFTER`` past its instant, there is no on-time instant: every owed instant is missed.
  ``none`` records the latest missed instant as ``missed`` (with the count); ``latest`` starts
  one catch-up run for it; ``all`` replays every owed instant, lazily, in order.
- A fire handed over on time (its instant T is the horizon) runs as a schedule run; the
  instants owed before T (if any) are missed: ``none``/``latest`` only count and log them,
  ``all`` replays them before T.

Overlap. A fire that would exceed ``max_active_runs`` is queued (``overlap = "queue"``) or
skipped (``"skip"``). Manual triggers and catch-up replays always queue.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Literal, Protocol

CatchupPolicy = Literal["none", "latest", "all"]
OverlapPolicy = Literal["queue", "skip"]

LATE_AFTER = timedelta(seconds=10)
"""A fire handed over later than this after its instant goes through the catch-up rules."""
_TICK = timedelta(microseconds=1)


class Schedule(Protocol):
    """What firing needs of ``timing.schedule.WorkflowSchedule``."""

    def next_fire(self, after: datetime) -> datetime | None: ...

    def count_between(self, after: datetime, until: datetime) -> int: ...

    def latest_between(self, after: datetime, until: datetime) -> datetime | None: ...


@dataclass(frozen=True, kw_only=True)
class FirePlan:
    """What to do with the instants owed to one workflow."""

    missed: int = 0
    """Owed instants that did not fire on time (the ``schedule.missed`` count)."""
    on_time: datetime | None = None
    """An instant that fires now as a schedule run."""
    catchup: datetime | None = None
    """``latest``: the one instant to run as a catch-up run."""
    record_missed: datetime | None = None
    """``none``: the instant to record as missed (carrying the count)."""
    replay_after: datetime | None = None
    """``all``: replay every instant after this one, up to ``replay_until``, as catch-up runs."""
    replay_until: datetime | None = None

    @property
    def empty(self) -> bool:
        return self.missed == 0 and self.on_time is None

    @property
    def replays(self) -> bool:
        return self.replay_after is not None and self.replay_until is not None


def _utc(instant: datetime | None) -> datetime | None:
    """Instants leave this module in UTC: two datetimes of one zone compare by wall time,
    which is wrong inside a fall-back overlap."""
    return None if instant is None else instant.astimezone(UTC)


def is_late(instant: datetime, now: datetime, late_after: timedelta = LATE_AFTER) -> bool:
    """A fire handed over this late is treated as missed (catch-up rules apply)."""
    return now - instant > late_after


def plan_owed(
    schedule: Schedule, *, last: datetime | None, horizon: datetime, policy: CatchupPolicy
) -> FirePlan:
    """Start-up / clock jump / late fire: every instant in (last, horizon] was missed."""
    if last is None:
        return FirePlan()
    missed = schedule.count_between(last, horizon)
    if missed == 0:
        return FirePlan()
    if policy == "all":
        return FirePlan(missed=missed, replay_after=last, replay_until=horizon)
    latest = _utc(schedule.latest_between(last, horizon))
    if policy == "latest":
        return FirePlan(missed=missed, catchup=latest)
    return FirePlan(missed=missed, record_missed=latest)


def plan_due(
    schedule: Schedule, *, last: datetime | None, due: datetime, policy: CatchupPolicy
) -> FirePlan:
    """An instant handed over on time: it fires; instants owed before it were missed."""
    if last is not None and due <= last:
        return FirePlan()  # already recorded (restart, backward clock jump)
    missed = 0 if last is None else schedule.count_between(last, due - _TICK)
    if policy == "all" and missed:
        return FirePlan(missed=missed, on_time=due, replay_after=last, replay_until=due - _TICK)
    return FirePlan(missed=missed, on_time=due)


def replay(schedule: Schedule, after: datetime, until: datetime) -> Iterator[datetime]:
    """The instants in (after, until], lazily, in order."""
    instant = _utc(schedule.next_fire(after))
    while instant is not None and instant <= until:
        yield instant
        instant = _utc(schedule.next_fire(instant))


class Admission(StrEnum):
    START = "start"
    QUEUE = "queue"
    SKIP = "skip"


def admit(
    *, active: int, limit: int, overlap: OverlapPolicy, force_queue: bool = False
) -> Admission:
    """Start a run now, queue it, or skip it, given the workflow's active runs."""
    if active < limit:
        return Admission.START
    if overlap == "skip" and not force_queue:
        return Admission.SKIP
    return Admission.QUEUE


@dataclass
class RunSlots:
    """One workflow's active runs and its queue (max_active_runs), in memory."""

    limit: int
    active: set[str]
    queued: deque[str]

    @classmethod
    def of(cls, limit: int) -> RunSlots:
        return cls(limit=limit, active=set(), queued=deque())

    def admit(self, overlap: OverlapPolicy, *, force_queue: bool = False) -> Admission:
        if self.queued and not force_queue and overlap == "skip":
            return Admission.SKIP
        if self.queued:
            return Admission.QUEUE  # keep order: nobody overtakes the queue
        return admit(
            active=len(self.active), limit=self.limit, overlap=overlap, force_queue=force_queue
        )

    def start(self, run_id: str) -> None:
        self.active.add(run_id)

    def enqueue(self, run_id: str) -> None:
        self.queued.append(run_id)

    def finish(self, run_id: str) -> list[str]:
        """Mark a run ended; return the queued runs that may start now (in order)."""
        self.active.discard(run_id)
        return self.release()

    def release(self) -> list[str]:
        ready: list[str] = []
        while self.queued and len(self.active) < self.limit:
            run_id = self.queued.popleft()
            self.active.add(run_id)
            ready.append(run_id)
        return ready

    def has_room(self) -> bool:
        return not self.queued and len(self.active) < self.limit
