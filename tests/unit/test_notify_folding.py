"""Folding repeats inside min_interval: pure, `now` passed in, no clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tapri_daemon.interfaces import Event, EventKind
from tapri_daemon.notify.folding import Folder, key_of

T0 = datetime(2025, 1, 6, 9, 30, tzinfo=UTC)
TEN_MIN = timedelta(minutes=10)


def event(n: int, kind: EventKind = EventKind.RUN_FAILED, workflow: str = "rbi") -> Event:
    return Event(kind=kind, workflow=workflow, at=T0 + timedelta(minutes=n), run_id=f"r{n}")


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_first_event_is_sent_and_repeats_inside_the_window_are_held() -> None:
    folder = Folder()
    key = key_of("ops", event(0))
    assert folder.offer(key, event(0), TEN_MIN, at(0)) is True
    assert folder.offer(key, event(1), TEN_MIN, at(1)) is False
    assert folder.offer(key, event(2), TEN_MIN, at(2)) is False
    assert folder.held(key) == 2
    assert folder.next_due() == at(10)


def test_a_closing_window_yields_one_summary_with_the_count_and_latest_event() -> None:
    folder = Folder()
    key = key_of("ops", event(0))
    for n in range(4):
        folder.offer(key, event(n), TEN_MIN, at(n))
    assert folder.due(at(9.9)) == []
    [summary] = folder.due(at(10))
    assert (summary.key, summary.count, summary.window) == (key, 3, TEN_MIN)
    assert summary.latest.run_id == "r3"


def test_a_steady_storm_gives_one_summary_per_interval() -> None:
    folder = Folder()
    key = key_of("ops", event(0))
    sent_now = [folder.offer(key, event(n), TEN_MIN, at(n)) for n in range(10)]
    assert sent_now == [True] + [False] * 9
    assert [s.count for s in folder.due(at(10))] == [9]
    # the window restarted at 10: repeats keep being held, not sent one by one
    assert folder.offer(key, event(11), TEN_MIN, at(11)) is False
    assert folder.next_due() == at(20)
    assert [s.count for s in folder.due(at(20))] == [1]


def test_a_quiet_window_closes_without_a_summary_and_the_next_event_goes_out() -> None:
    folder = Folder()
    key = key_of("ops", event(0))
    folder.offer(key, event(0), TEN_MIN, at(0))
    assert folder.due(at(10)) == []
    assert folder.next_due() is None
    assert folder.offer(key, event(12), TEN_MIN, at(12)) is True


def test_an_expired_window_is_not_extended_by_a_late_offer() -> None:
    folder = Folder()
    key = key_of("ops", event(0))
    folder.offer(key, event(0), TEN_MIN, at(0))
    # nobody called due() at 10; an event at 15 opens a fresh window and is sent
    assert folder.offer(key, event(15), TEN_MIN, at(15)) is True
    assert folder.next_due() == at(25)


def test_keys_are_notifier_kind_and_workflow() -> None:
    folder = Folder()
    first = event(0)
    assert folder.offer(key_of("ops", first), first, TEN_MIN, at(0))
    for other_key, other in [
        (key_of("business", first), first),
        (key_of("ops", event(1, EventKind.TASK_RETRYING)), event(1, EventKind.TASK_RETRYING)),
        (key_of("ops", event(1, workflow="gst")), event(1, workflow="gst")),
    ]:
        assert folder.offer(other_key, other, TEN_MIN, at(1)) is True


def test_without_min_interval_nothing_is_folded() -> None:
    folder = Folder()
    key = key_of("ops", event(0))
    assert all(folder.offer(key, event(n), None, at(0)) for n in range(5))
    assert folder.next_due() is None


def test_flush_hands_out_every_held_summary_and_forgets_windows() -> None:
    folder = Folder()
    a, b = key_of("ops", event(0)), key_of("business", event(0))
    for key in (a, b):
        folder.offer(key, event(0), TEN_MIN, at(0))
    folder.offer(a, event(1), TEN_MIN, at(1))
    [summary] = folder.flush()
    assert (summary.key, summary.count) == (a, 1)
    assert folder.next_due() is None
