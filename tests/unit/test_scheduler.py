"""APScheduler wiring: our trigger, the hand-off executor, explicit job options, jumps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import anyio

from tapri_daemon.daemon.jumps import JumpWatch, Sample, detect
from tapri_daemon.daemon.reload import FileWatch, diff
from tapri_daemon.daemon.scheduler import JOB_OPTIONS, FireScheduler, JobSpec, ScheduleTrigger
from tapri_daemon.model import Workflow

T0 = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)


class Every:
    """Fires every ``step`` from the epoch, in UTC."""

    def __init__(self, step: timedelta) -> None:
        self.step = step

    def next_fire(self, after: datetime) -> datetime | None:
        epoch = datetime(1970, 1, 1, tzinfo=UTC)
        return epoch + ((after - epoch) // self.step + 1) * self.step


def test_trigger_wakes_advance_before_the_next_instant() -> None:
    trigger = ScheduleTrigger(Every(timedelta(minutes=1)), advance=timedelta(seconds=5))
    wake = trigger.get_next_fire_time(None, T0 + timedelta(seconds=30))
    assert wake == T0 + timedelta(seconds=55)
    assert trigger.instant_of(wake) == T0 + timedelta(minutes=1)
    # the next one after a fire: from the previous instant, not from the wake time
    assert trigger.get_next_fire_time(wake, T0 + timedelta(seconds=56)) == T0 + timedelta(
        minutes=1, seconds=55
    )


def test_trigger_never_hands_out_a_recorded_instant_after_a_backward_jump() -> None:
    recorded = T0 + timedelta(hours=1)
    trigger = ScheduleTrigger(Every(timedelta(minutes=1)), floor=lambda: recorded)
    # the wall clock went back an hour: the next instant is after the last recorded fire
    assert trigger.get_next_fire_time(None, T0) == recorded + timedelta(minutes=1)


def test_trigger_skips_ahead_when_far_behind() -> None:
    trigger = ScheduleTrigger(Every(SECOND), late_after=timedelta(seconds=10))
    now = T0 + timedelta(hours=3)
    # APScheduler asks for the next time after a stale one: bounded to 10 s of backlog
    assert trigger.get_next_fire_time(T0, now) == now - timedelta(seconds=9)
    assert trigger.get_next_fire_time(now - 2 * SECOND, now) == now - SECOND


async def _collect(scheduler: FireScheduler, seen: list[tuple[str, datetime]], n: int) -> None:
    with anyio.fail_after(5):
        while len(seen) < n:
            await anyio.sleep(0.001)


async def test_due_instants_are_handed_over_not_run() -> None:
    seen: list[tuple[str, datetime]] = []
    scheduler = FireScheduler(lambda wf, instant: seen.append((wf, instant)))
    hour = timedelta(hours=1)
    spec = JobSpec(workflow="tatkal", schedule=Every(hour), advance=hour, floor=lambda: None)
    scheduler.set_jobs({"tatkal": spec})
    scheduler.start()
    try:
        await _collect(scheduler, seen, 1)  # the wake-up (instant - 1h) is already past
        now = datetime.now(UTC)
        (workflow, instant), *_ = seen
        assert workflow == "tatkal"
        assert instant == Every(hour).next_fire(now)
        assert now < instant <= now + hour
        assert scheduler.next_fires()["tatkal"] == instant + hour
        job = scheduler._scheduler.get_job("tatkal")
        assert {k: getattr(job, k) for k in JOB_OPTIONS} == dict(JOB_OPTIONS)
    finally:
        scheduler.shutdown()


async def test_backlog_is_handed_over_instant_by_instant_and_bounded() -> None:
    seen: list[tuple[str, datetime]] = []
    scheduler = FireScheduler(lambda wf, instant: seen.append((wf, instant)))
    spec = JobSpec(workflow="w", schedule=Every(SECOND), advance=timedelta(0), floor=lambda: None)
    scheduler.set_jobs({"w": spec})
    scheduler.start()
    try:
        job = scheduler._scheduler.get_job("w")
        stale = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
        job.modify(next_run_time=stale)  # an hour behind, as after an unnoticed jump
        await _collect(scheduler, seen, 2)
        await anyio.sleep(0.05)
        instants = [instant for _, instant in seen]
        assert instants[0] == stale
        assert len(instants) <= 13  # the stale one plus at most late_after of backlog
        assert instants == sorted(instants)
    finally:
        scheduler.shutdown()


def test_set_jobs_adds_replaces_and_removes() -> None:
    scheduler = FireScheduler(lambda wf, instant: None)
    spec = JobSpec(workflow="a", schedule=Every(SECOND), advance=timedelta(0), floor=lambda: None)
    scheduler.set_jobs({"a": spec, "b": JobSpec(**{**spec.__dict__, "workflow": "b"})})
    assert scheduler.job_ids() == {"a", "b"}
    scheduler.set_jobs({"b": JobSpec(**{**spec.__dict__, "workflow": "b"})})
    assert scheduler.job_ids() == {"b"}


async def test_recompute_follows_a_moved_floor() -> None:
    floor: list[datetime | None] = [None]
    scheduler = FireScheduler(lambda wf, instant: None)
    minute = timedelta(minutes=1)
    spec = JobSpec(
        workflow="a", schedule=Every(minute), advance=timedelta(0), floor=lambda: floor[0]
    )
    scheduler.set_jobs({"a": spec})
    scheduler.start()
    try:
        before = scheduler.next_fires()["a"]
        floor[0] = before + timedelta(hours=2)
        scheduler.recompute()
        assert scheduler.next_fires()["a"] == before + timedelta(hours=2, minutes=1)
    finally:
        scheduler.shutdown()


def _sample(wall: float, mono: float, boot: float | None = None) -> Sample:
    return Sample(wall=wall, monotonic=mono, boottime=mono if boot is None else boot)


def test_jump_detection() -> None:
    assert detect(_sample(100, 10), _sample(100.5, 10.5)) is None
    forward = detect(_sample(100, 10), _sample(3700.5, 10.5))
    assert forward is not None and forward.kind == "forward" and forward.offset == 3600
    backward = detect(_sample(100, 10), _sample(40.5, 10.5))
    assert backward is not None and backward.kind == "backward" and backward.offset == -60
    # suspend: the wall clock and CLOCK_BOOTTIME moved on, CLOCK_MONOTONIC did not
    slept = detect(_sample(100, 10, 10), _sample(700.5, 10.5, 610.5))
    assert slept is not None and slept.kind == "suspend"


def test_jump_watch_compares_consecutive_samples() -> None:
    watch = JumpWatch(_sample(100, 10))
    assert watch.check(_sample(101, 11)) is None
    jump = watch.check(_sample(200, 12))
    assert jump is not None and jump.offset == 98
    assert watch.check(_sample(201, 13)) is None


def _workflows(**schedules: str) -> dict[str, Workflow]:
    return {
        name: Workflow.model_validate({"schedule": cron, "task": {"a": {"command": "true"}}})
        for name, cron in schedules.items()
    }


def test_reload_diff_names_added_removed_rescheduled_and_changed() -> None:
    old = _workflows(a="* * * * *", b="@daily", c="@hourly")
    new = _workflows(a="*/5 * * * *", c="@hourly", d="@daily")
    new["c"] = new["c"].model_copy(update={"max_active_runs": 3})
    changes = diff(old, new)
    assert changes.as_dict() == {
        "added": ["d"],
        "removed": ["b"],
        "rescheduled": ["a"],
        "changed": ["c"],
    }
    assert diff(old, old).empty


def test_file_watch_sees_each_edit_once(tmp_path: Path) -> None:
    path = tmp_path / "workflows.toml"
    path.write_text("a")
    watch = FileWatch((path,))
    assert not watch.changed()
    path.write_text("ab")
    assert watch.changed()
    assert not watch.changed()
    path.unlink()
    assert watch.changed()
