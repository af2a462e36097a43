"""Pure fire decisions: catch-up counts (never lists), on-time fires, overlap queue/skip."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tapri_daemon.daemon.firing import (
    Admission,
    FirePlan,
    RunSlots,
    admit,
    is_late,
    plan_due,
    plan_owed,
    replay,
)

T0 = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


class EveryMinute:
    """A `* * * * *` schedule with O(1) arithmetic; counts how it is asked."""

    def __init__(self) -> None:
        self.next_calls = 0

    def _floor(self, t: datetime) -> datetime:
        return t.replace(second=0, microsecond=0)

    def next_fire(self, after: datetime) -> datetime | None:
        self.next_calls += 1
        return self._floor(after) + MINUTE

    def count_between(self, after: datetime, until: datetime) -> int:
        if until <= after:
            return 0
        return int((self._floor(until) - self._floor(after)) / MINUTE)

    def latest_between(self, after: datetime, until: datetime) -> datetime | None:
        latest = self._floor(until)
        return latest if latest > after else None


def test_three_days_down_latest_is_one_catchup_with_4320_missed() -> None:
    schedule = EveryMinute()
    now = T0 + timedelta(days=3, seconds=20)
    plan = plan_owed(schedule, last=T0, horizon=now, policy="latest")
    assert plan == FirePlan(missed=4320, catchup=T0 + timedelta(days=3))
    assert schedule.next_calls == 0  # counted, never enumerated


def test_three_days_down_none_records_the_latest_as_missed() -> None:
    plan = plan_owed(EveryMinute(), last=T0, horizon=T0 + timedelta(days=3), policy="none")
    assert plan.missed == 4320
    assert plan.record_missed == T0 + timedelta(days=3)
    assert plan.catchup is None and not plan.replays


def test_all_replays_lazily_in_order() -> None:
    schedule = EveryMinute()
    plan = plan_owed(schedule, last=T0, horizon=T0 + timedelta(minutes=3, seconds=5), policy="all")
    assert plan.missed == 3 and plan.replays
    assert plan.replay_after is not None and plan.replay_until is not None
    instants = replay(schedule, plan.replay_after, plan.replay_until)
    assert next(instants) == T0 + MINUTE
    assert schedule.next_calls == 1  # lazy: one instant computed so far
    assert list(instants) == [T0 + 2 * MINUTE, T0 + 3 * MINUTE]


def test_nothing_owed_without_a_recorded_fire_or_inside_the_same_minute() -> None:
    assert plan_owed(EveryMinute(), last=None, horizon=T0, policy="all").empty
    assert plan_owed(EveryMinute(), last=T0, horizon=T0 + timedelta(seconds=59), policy="all").empty


def test_on_time_fire_counts_the_gap_before_it() -> None:
    plan = plan_due(EveryMinute(), last=T0, due=T0 + 4 * MINUTE, policy="latest")
    assert plan == FirePlan(missed=3, on_time=T0 + 4 * MINUTE)
    plan_all = plan_due(EveryMinute(), last=T0, due=T0 + 4 * MINUTE, policy="all")
    assert plan_all.missed == 3 and plan_all.on_time == T0 + 4 * MINUTE
    assert plan_all.replay_until is not None and plan_all.replay_until < T0 + 4 * MINUTE
    assert list(replay(EveryMinute(), T0, plan_all.replay_until)) == [
        T0 + MINUTE,
        T0 + 2 * MINUTE,
        T0 + 3 * MINUTE,
    ]


def test_consecutive_on_time_fire_has_no_gap() -> None:
    assert plan_due(EveryMinute(), last=T0, due=T0 + MINUTE, policy="none") == FirePlan(
        on_time=T0 + MINUTE
    )
    assert plan_due(EveryMinute(), last=None, due=T0, policy="latest") == FirePlan(on_time=T0)


@pytest.mark.parametrize("due", [T0, T0 - MINUTE])
def test_recorded_or_older_instant_never_fires_again(due: datetime) -> None:
    # a restart or a backward clock jump hands over an instant already recorded
    assert plan_due(EveryMinute(), last=T0, due=due, policy="all").empty


def test_lateness_threshold() -> None:
    assert not is_late(T0, T0 + timedelta(seconds=10))
    assert is_late(T0, T0 + timedelta(seconds=10, microseconds=1))


@pytest.mark.parametrize(
    ("active", "overlap", "force", "expected"),
    [
        (0, "skip", False, Admission.START),
        (1, "queue", False, Admission.QUEUE),
        (1, "skip", False, Admission.SKIP),
        (1, "skip", True, Admission.QUEUE),
    ],
)
def test_admit(active: int, overlap: str, force: bool, expected: Admission) -> None:
    assert admit(active=active, limit=1, overlap=overlap, force_queue=force) == expected  # type: ignore[arg-type]


def test_slots_queue_in_order_and_release_on_finish() -> None:
    slots = RunSlots.of(2)
    for run in ("r1", "r2"):
        assert slots.admit("queue") is Admission.START
        slots.start(run)
    for run in ("r3", "r4"):
        assert slots.admit("queue") is Admission.QUEUE
        slots.enqueue(run)
    assert slots.finish("r1") == ["r3"]
    assert slots.active == {"r2", "r3"}
    assert slots.finish("r2") == ["r4"]
    assert slots.finish("r3") == []
    assert slots.has_room()


def test_slots_skip_when_full_and_nobody_overtakes_the_queue() -> None:
    slots = RunSlots.of(1)
    slots.start("r1")
    assert slots.admit("skip") is Admission.SKIP
    slots.enqueue("r2")
    slots.active.clear()  # a slot is free, but r2 waits in the queue
    assert slots.admit("queue") is Admission.QUEUE
