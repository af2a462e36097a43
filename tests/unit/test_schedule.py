"""A workflow's fire times: expressions x calendar x on_holiday x start/end, no clock."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from itertools import islice, pairwise
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tapri_daemon.errors import ScheduleError
from tapri_daemon.model import Calendar, Task, Workflow
from tapri_daemon.timing.calendars import WorkingCalendar
from tapri_daemon.timing.schedule import Fire, WorkflowSchedule

KOLKATA = ZoneInfo("Asia/Kolkata")
BERLIN = ZoneInfo("Europe/Berlin")
NSE = Calendar(country="IN", market="XNSE")
CALENDARS: Mapping[str, Calendar] = {
    "nse": NSE,
    "nse_closed_week": Calendar(
        country="IN",
        market="XNSE",
        extra_holidays=tuple(date(2026, 12, day) for day in range(21, 25)),
    ),
    "broken": Calendar(country="XX"),
}


def schedule(**fields: Any) -> WorkflowSchedule:
    workflow = Workflow(task={"t": Task(command="true")}, **fields)
    return WorkflowSchedule.from_workflow(
        workflow, default_timezone="Asia/Kolkata", calendars=CALENDARS
    )


def ist(year: int, month: int, day: int, hour: int = 0, minute: int = 0, sec: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, sec, tzinfo=KOLKATA)


def first(fires: Any, count: int) -> list[Fire]:
    return list(islice(fires, count))


def rbi(**fields: Any) -> WorkflowSchedule:
    return schedule(schedule="0 15 * * 1-5", timezone="Asia/Kolkata", calendar="nse", **fields)


# -- calendars and on_holiday ----------------------------------------------------------------


def test_rbi_reporting_skips_an_nse_holiday() -> None:
    fires = first(rbi().fires(ist(2026, 11, 5, 12)), 6)
    assert [f.nominal.day for f in fires] == [5, 6, 9, 10, 11, 12]
    holiday = fires[3]
    assert holiday.skipped and holiday.at is None
    assert holiday.reason == "holiday: Diwali Balipratipada"
    assert [f.at for f in fires if not f.skipped] == [
        ist(2026, 11, d, 15) for d in (5, 6, 9, 11, 12)
    ]
    assert rbi().next_fire(ist(2026, 11, 9, 15)) == ist(2026, 11, 11, 15)
    assert rbi().previous_fire(ist(2026, 11, 11, 15)) == ist(2026, 11, 9, 15)


def test_rbi_reporting_skips_a_closed_week() -> None:
    closed = schedule(schedule="0 15 * * 1-5", calendar="nse_closed_week")
    friday = ist(2026, 12, 18, 15)
    assert closed.next_fire(friday) == ist(2026, 12, 28, 15)
    skipped = [f for f in first(closed.fires(friday), 6) if f.skipped]
    assert [f.nominal.day for f in skipped] == [21, 22, 23, 24, 25]
    assert skipped[-1].reason == "holiday: Christmas Day; Christmas"
    assert closed.count_between(friday, ist(2026, 12, 28, 15)) == 1
    assert closed.previous_fire(ist(2026, 12, 28, 15)) == friday
    assert closed.latest_between(friday - timedelta(days=1), ist(2026, 12, 27)) == friday


def test_count_between_agrees_with_the_calendar() -> None:
    calendar = WorkingCalendar.from_model(NSE)
    days = [date(2026, 1, 1) + timedelta(days=n) for n in range(365)]
    working = sum(1 for day in days if calendar.is_working_day(day))
    year = rbi().count_between(ist(2025, 12, 31, 23), ist(2026, 12, 31, 23))
    assert year == working
    real = [f for f in first(rbi().fires(ist(2025, 12, 31, 23)), 400) if not f.skipped]
    assert year == sum(1 for f in real if f.at is not None and f.at <= ist(2026, 12, 31, 23))


def test_next_business_day_moves_a_saturday_fire_to_monday() -> None:
    saturdays = schedule(schedule="0 10 * * 6", calendar="nse", on_holiday="next_business_day")
    fire = first(saturdays.fires(ist(2026, 11, 6)), 1)[0]
    assert fire.at == ist(2026, 11, 9, 10)
    assert fire.nominal == fire.moved_from == ist(2026, 11, 7, 10)
    assert fire.reason == "weekend (sat)"
    # Asked on the Sunday (a restart), the moved fire is still ahead.
    assert saturdays.next_fire(ist(2026, 11, 8, 12)) == ist(2026, 11, 9, 10)
    assert saturdays.next_fire(ist(2026, 11, 9, 10)) == ist(2026, 11, 16, 10)


def test_fires_moved_onto_one_instant_fire_once() -> None:
    daily = schedule(schedule="0 10 * * *", calendar="nse", on_holiday="next_business_day")
    fires = first(daily.fires(ist(2026, 11, 6, 11)), 6)
    real = [f.at for f in fires if f.at is not None]
    assert real == [ist(2026, 11, 9, 10), ist(2026, 11, 11, 10), ist(2026, 11, 12, 10)]
    dropped = [f for f in fires if f.skipped]
    assert [f.nominal.day for f in dropped] == [7, 8, 10]
    assert all("which already fires" in (f.reason or "") for f in dropped)
    assert daily.count_between(ist(2026, 11, 6, 11), ist(2026, 11, 12, 10)) == 3


def test_moved_fires_come_out_in_the_order_they_happen() -> None:
    moved = schedule(
        schedule=["0 10 * * 6", "0 9 * * 1"], calendar="nse", on_holiday="next_business_day"
    )
    fires = first(moved.fires(ist(2026, 11, 6)), 2)
    assert [f.at for f in fires] == [ist(2026, 11, 9, 9), ist(2026, 11, 9, 10)]
    assert fires[1].moved_from == ist(2026, 11, 7, 10)


def test_previous_business_day_moves_back_and_never_before_after() -> None:
    saturdays = schedule(schedule="0 10 * * 6", calendar="nse", on_holiday="previous_business_day")
    fire = first(saturdays.fires(ist(2026, 11, 5)), 1)[0]
    assert (fire.at, fire.moved_from) == (ist(2026, 11, 6, 10), ist(2026, 11, 7, 10))
    # After Friday's moved fire has passed, the next one is a week later.
    later = first(saturdays.fires(ist(2026, 11, 6, 11)), 1)[0]
    assert later.at == ist(2026, 11, 13, 10)
    assert saturdays.previous_fire(ist(2026, 11, 6, 11)) == ist(2026, 11, 6, 10)
    assert saturdays.latest_between(ist(2026, 11, 5), ist(2026, 11, 6, 11)) == ist(2026, 11, 6, 10)
    assert saturdays.count_between(ist(2026, 11, 5), ist(2026, 11, 6, 11)) == 1


def test_a_move_past_end_date_is_skipped() -> None:
    ending = schedule(
        schedule="0 10 * * *",
        calendar="nse",
        on_holiday="next_business_day",
        end_date=date(2026, 11, 7),
    )
    fires = list(ending.fires(ist(2026, 11, 6, 11)))
    assert len(fires) == 1 and fires[0].skipped
    assert "outside start/end_date" in (fires[0].reason or "")
    assert ending.next_fire(ist(2026, 11, 6, 11)) is None


def test_a_schedule_that_only_hits_weekends_never_fires() -> None:
    weekends = schedule(schedule="0 10 * * sat,sun", calendar="nse")
    assert weekends.next_fire(ist(2026, 11, 6)) is None
    assert weekends.previous_fire(ist(2026, 11, 6)) is None
    assert all(f.skipped for f in first(weekends.fires(ist(2026, 11, 6)), 10))


# -- start/end dates, lists, manual ----------------------------------------------------------


def test_start_and_end_dates_are_whole_local_days() -> None:
    bounded = schedule(schedule="0 9 * * *", start_date=date(2027, 1, 2), end_date=date(2027, 1, 3))
    at = [f.at for f in bounded.fires(ist(2026, 1, 1))]
    assert at == [ist(2027, 1, 2, 9), ist(2027, 1, 3, 9)]
    assert bounded.next_fire(ist(2027, 1, 3, 9)) is None
    assert bounded.previous_fire(ist(2030, 1, 1)) == ist(2027, 1, 3, 9)
    assert bounded.previous_fire(ist(2027, 1, 2, 9)) is None
    assert bounded.count_between(ist(2026, 1, 1), ist(2030, 1, 1)) == 2
    assert bounded.latest_between(ist(2026, 1, 1), ist(2030, 1, 1)) == ist(2027, 1, 3, 9)


def test_start_date_time_is_inclusive_and_naive_means_the_workflow_zone() -> None:
    starting = schedule(schedule="0 9 * * *", start_date=datetime(2027, 1, 2, 9, 0))
    assert starting.next_fire(ist(2026, 1, 1)) == ist(2027, 1, 2, 9)
    aware = schedule(schedule="0 9 * * *", start_date=datetime(2027, 1, 2, 4, 0, tzinfo=UTC))
    assert aware.next_fire(ist(2026, 1, 1)) == ist(2027, 1, 3, 9)


def test_end_before_start_is_an_error() -> None:
    with pytest.raises(ScheduleError) as caught:
        schedule(schedule="0 9 * * *", start_date=date(2027, 1, 2), end_date=date(2027, 1, 1))
    assert str(caught.value) == "end_date 2027-01-01 is before start_date 2027-01-02"


def test_a_list_of_schedules_is_merged() -> None:
    merged = schedule(schedule=["0 9 * * *", "30 9 * * 1-5", "0 9 * * *"])
    at = [f.at for f in first(merged.fires(ist(2027, 1, 1)), 6)]
    assert at == [
        ist(2027, 1, 1, 9),
        ist(2027, 1, 1, 9, 30),
        ist(2027, 1, 2, 9),
        ist(2027, 1, 3, 9),
        ist(2027, 1, 4, 9),
        ist(2027, 1, 4, 9, 30),
    ]
    assert merged.count_between(ist(2027, 1, 1), ist(2027, 1, 4, 9, 30)) == 6
    assert merged.previous_fire(ist(2027, 1, 4, 9, 30)) == ist(2027, 1, 4, 9)


def test_a_manual_workflow_never_fires() -> None:
    manual = schedule()
    assert manual.is_manual
    assert list(manual.fires(ist(2027, 1, 1))) == []
    assert manual.next_fire(ist(2027, 1, 1)) is None
    assert manual.previous_fire(ist(2027, 1, 1)) is None
    assert manual.count_between(ist(2027, 1, 1), ist(2028, 1, 1)) == 0
    assert not rbi().is_manual


def test_the_workflow_zone_wins_over_the_default() -> None:
    berlin = schedule(schedule="0 10 * * *", timezone="Europe/Berlin")
    default = schedule(schedule="0 10 * * *")
    assert (berlin.timezone, default.timezone) == (BERLIN, KOLKATA)
    fire = berlin.next_fire(ist(2027, 1, 1))
    assert fire is not None and fire.astimezone(UTC) == datetime(2027, 1, 1, 9, 0, tzinfo=UTC)


def test_a_dst_note_reaches_the_fire() -> None:
    berlin = schedule(schedule="30 2 * * *", timezone="Europe/Berlin")
    fire = first(berlin.fires(datetime(2027, 3, 27, 12, tzinfo=BERLIN)), 1)[0]
    assert fire.at == datetime(2027, 3, 28, 3, 0, tzinfo=BERLIN)
    assert fire.reason == "DST gap: 02:30 does not exist, fires at 03:00"


# -- counting --------------------------------------------------------------------------------


def test_count_between_every_minute_for_three_days() -> None:
    minutely = schedule(schedule="* * * * *")
    assert minutely.count_between(ist(2027, 1, 1), ist(2027, 1, 4)) == 4320
    with_calendar = schedule(schedule="* * * * *", calendar="nse")
    assert with_calendar.count_between(ist(2027, 1, 4), ist(2027, 1, 7)) == 4320
    assert minutely.count_between(ist(2027, 1, 4), ist(2027, 1, 1)) == 0


def test_count_between_is_half_open() -> None:
    minutely = schedule(schedule="* * * * *")
    assert minutely.count_between(ist(2027, 1, 1, 10), ist(2027, 1, 1, 10, 1)) == 1
    assert minutely.latest_between(ist(2027, 1, 1, 10), ist(2027, 1, 1, 10, 1)) == ist(
        2027, 1, 1, 10, 1
    )
    assert minutely.latest_between(ist(2027, 1, 1, 10), ist(2027, 1, 1, 10, 0, 59)) is None


# -- the anchoring rule of `every` -----------------------------------------------------------


@pytest.mark.parametrize("zone", ["Asia/Kolkata", "Asia/Kathmandu", "Europe/Berlin"])
def test_every_2m_without_start_date_fires_on_even_local_minutes(zone: str) -> None:
    every = schedule(schedule="every 2m", timezone=zone)
    tz = ZoneInfo(zone)
    for after in (
        datetime(2027, 1, 1, 10, 0, 30, tzinfo=tz),
        datetime(2027, 7, 1, 10, 3, tzinfo=tz),
    ):
        fires = [f.at for f in first(every.fires(after), 3) if f.at is not None]
        assert all(f.minute % 2 == 0 and f.second == 0 for f in fires)
        assert [b - a for a, b in pairwise(fires)] == [timedelta(minutes=2)] * 2
    # The same grid whenever it is asked (a restart does not shift it).
    assert every.next_fire(datetime(2027, 1, 1, 10, 1, tzinfo=tz)) == datetime(
        2027, 1, 1, 10, 2, tzinfo=tz
    )


def test_every_2m_is_anchored_at_start_date() -> None:
    every = schedule(schedule="every 2m", start_date=datetime(2027, 1, 1, 10, 1))
    at = [f.at for f in first(every.fires(ist(2026, 1, 1)), 3)]
    assert at == [ist(2027, 1, 1, 10, 1), ist(2027, 1, 1, 10, 3), ist(2027, 1, 1, 10, 5)]
    assert every.count_between(ist(2026, 1, 1), ist(2027, 1, 1, 10, 5)) == 3
    assert every.previous_fire(ist(2027, 1, 1, 10, 1)) is None


def test_every_count_uses_arithmetic_and_agrees_with_iteration() -> None:
    every = schedule(schedule="every 2m")
    assert every.count_between(ist(2027, 1, 1), ist(2027, 1, 4)) == 2160
    odd = schedule(schedule="every 7m")
    after, until = ist(2027, 1, 1, 0, 3), ist(2027, 1, 1, 9, 0)
    listed = [f for f in first(odd.fires(after), 200) if f.at is not None and f.at <= until]
    assert odd.count_between(after, until) == len(listed)
    assert odd.latest_between(after, until) == listed[-1].at


# -- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "fragment"),
    [
        ({"schedule": "0 9 * * *", "calendar": "nsee"}, 'unknown calendar "nsee" (did you mean'),
        ({"schedule": "0 9 * * *", "calendar": "broken"}, 'calendar "broken": country: unknown'),
        ({"schedule": ["0 9 * * *", "61 * * * *"]}, 'schedule "61 * * * *": minute field'),
    ],
)
def test_from_workflow_errors(fields: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ScheduleError) as caught:
        schedule(**fields)
    assert fragment in str(caught.value)


def test_naive_after_is_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        rbi().next_fire(datetime(2027, 1, 1))


# -- the queries agree with the stream -------------------------------------------------------

POLICIES = ("skip", "next_business_day", "previous_business_day")
SHAPES: tuple[str | tuple[str, ...], ...] = (
    "0 10 * * *",
    "0 15 * * 1-5",
    "0 10 * * 6",
    ("0 9 * * 1", "0 10 * * 6"),
    "*/30 * * * *",
    "every 5h",
)


@pytest.mark.parametrize(
    ("policy", "shape"),
    [
        (policy, shape)
        for policy in POLICIES
        for shape in SHAPES
        if (policy, shape) != ("skip", "0 10 * * 6")  # never fires: its own test above
    ],
)
def test_queries_agree_with_the_stream(policy: str, shape: str | tuple[str, ...]) -> None:
    moving = schedule(schedule=shape, calendar="nse", on_holiday=policy)
    check_queries(moving, NSE, ist(2026, 10, 20), ist(2026, 12, 5), ist(2026, 11, 1))


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("shape", ["30 2 * * *", "*/30 * * * *", ("0 1 * * 6", "30 2 * * 1")])
def test_queries_agree_across_a_dst_change(policy: str, shape: str | tuple[str, ...]) -> None:
    german = Calendar(country="DE", subdiv="BE")
    moving = WorkflowSchedule.from_workflow(
        Workflow(
            task={"t": Task(command="true")},
            schedule=shape,
            on_holiday=policy,
            calendar="de",
            timezone="Europe/Berlin",
        ),
        default_timezone="UTC",
        calendars={"de": german},
    )
    berlin = ZoneInfo("Europe/Berlin")
    begin, end = datetime(2026, 10, 10, tzinfo=berlin), datetime(2026, 11, 10, tzinfo=berlin)
    check_queries(moving, german, begin, end, datetime(2026, 10, 20, tzinfo=berlin))


def check_queries(
    moving: WorkflowSchedule, model: Calendar, begin: datetime, end: datetime, first: datetime
) -> None:
    """next/previous/count/latest agree with the stream; the stream keeps its promises."""
    calendar = WorkingCalendar.from_model(model)
    stream = fires_until(moving.fires(begin), end)
    real = [f.at.astimezone(UTC) for f in stream if f.at is not None]
    assert all(a < b for a, b in pairwise(real))
    assert all(calendar.is_working_day(f.at.date()) for f in stream if f.at is not None)
    for fire in stream:
        if fire.moved_from is not None and fire.at is not None:
            assert fire.at.time() == fire.moved_from.time()
            step = 1 if moving.on_holiday == "next_business_day" else -1
            assert (fire.at.date() - fire.moved_from.date()).days * step > 0
    probes = [first + n * timedelta(hours=7, minutes=13) for n in range(60)]
    for probe in (p.astimezone(UTC) for p in probes):
        assert utc_or_none(moving.next_fire(probe)) == next((a for a in real if a > probe), None)
        before: list[datetime | None] = [None, *(at for at in real if at < probe)]
        assert utc_or_none(moving.previous_fire(probe)) == before[-1]
    for early, late in pairwise(probes[::6]):
        inside = [at for at in real if early < at <= late]
        assert moving.count_between(early, late) == len(inside)
        latest = moving.latest_between(early, late)
        assert utc_or_none(latest) == (inside[-1] if inside else None)


def utc_or_none(instant: datetime | None) -> datetime | None:
    return instant.astimezone(UTC) if instant is not None else None


def fires_until(fires: Any, end: datetime) -> list[Fire]:
    return list(itertools.takewhile(lambda f: f.key <= end.astimezone(UTC), fires))
