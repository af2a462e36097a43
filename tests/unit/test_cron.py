"""Cron semantics and the DST policy: fire times computed from a given instant, no clock."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import islice, pairwise
from zoneinfo import ZoneInfo

import pytest

from tapri_daemon.errors import DefinitionError, ScheduleError
from tapri_daemon.timing.cron import (
    EVERY_ANCHOR,
    CronExpression,
    compile_expression,
    expression_warnings,
)

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
KOLKATA = ZoneInfo("Asia/Kolkata")
LORD_HOWE = ZoneInfo("Australia/Lord_Howe")
UTC_ZONE = ZoneInfo("UTC")


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, sec: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, sec, tzinfo=UTC)


def upcoming(text: str, after: datetime, tz: ZoneInfo, count: int) -> list[datetime]:
    return [o.at for o in islice(compile_expression(text).occurrences(after, tz), count)]


def in_utc(instants: list[datetime]) -> list[datetime]:
    return [instant.astimezone(UTC) for instant in instants]


# -- the DST policy ----------------------------------------------------------------------


def test_fixed_time_in_a_spring_forward_gap_fires_once_at_the_end_of_the_gap() -> None:
    fires = upcoming("30 2 * * *", datetime(2027, 3, 27, 12, tzinfo=BERLIN), BERLIN, 2)
    assert fires[0] == datetime(2027, 3, 28, 3, 0, tzinfo=BERLIN)
    assert fires[0].utcoffset() == timedelta(hours=2)
    assert in_utc(fires) == [utc(2027, 3, 28, 1, 0), utc(2027, 3, 29, 0, 30)]


def test_fixed_time_in_a_fall_back_overlap_fires_once_at_the_first_pass() -> None:
    fires = upcoming("30 2 * * *", datetime(2027, 10, 30, 12, tzinfo=BERLIN), BERLIN, 2)
    assert fires[0].utcoffset() == timedelta(hours=2)
    assert in_utc(fires) == [utc(2027, 10, 31, 0, 30), utc(2027, 11, 1, 1, 30)]


def test_counting_from_inside_the_second_pass_does_not_go_back_to_the_first() -> None:
    second_pass = datetime(2027, 10, 31, 2, 20, tzinfo=BERLIN, fold=1)
    expression = compile_expression("30 2 * * *")
    assert expression.next_after(second_pass, BERLIN) == datetime(2027, 11, 1, 2, 30, tzinfo=BERLIN)
    previous = expression.previous_before(second_pass, BERLIN)
    assert previous is not None and previous.astimezone(UTC) == utc(2027, 10, 31, 0, 30)


def test_dst_notes_say_what_happened() -> None:
    expression = compile_expression("30 2 * * *")
    gap = next(expression.occurrences(datetime(2027, 3, 28, tzinfo=BERLIN), BERLIN))
    overlap = next(expression.occurrences(datetime(2027, 10, 31, tzinfo=BERLIN), BERLIN))
    assert gap.note == "DST gap: 02:30 does not exist, fires at 03:00"
    assert overlap.note == "DST overlap: 02:30 happens twice, fires once at the first (+02:00)"


def test_six_field_fixed_time_follows_the_same_policy() -> None:
    spring = upcoming("0 30 2 * * *", datetime(2027, 3, 28, tzinfo=BERLIN), BERLIN, 1)
    autumn = upcoming("*/20 30 2 * * *", datetime(2027, 10, 31, tzinfo=BERLIN), BERLIN, 4)
    assert in_utc(spring) == [utc(2027, 3, 28, 1, 0)]
    assert in_utc(autumn) == [
        utc(2027, 10, 31, 0, 30, 0),
        utc(2027, 10, 31, 0, 30, 20),
        utc(2027, 10, 31, 0, 30, 40),
        utc(2027, 11, 1, 1, 30, 0),
    ]


def test_wildcard_hour_fires_at_each_real_instant_in_a_fall_back() -> None:
    fires = upcoming("30 * * * *", utc(2027, 11, 7, 4, 0), NEW_YORK, 4)
    assert in_utc(fires) == [
        utc(2027, 11, 7, 4, 30),
        utc(2027, 11, 7, 5, 30),
        utc(2027, 11, 7, 6, 30),
        utc(2027, 11, 7, 7, 30),
    ]
    assert [f.strftime("%H:%M%z") for f in fires] == [
        "00:30-0400",
        "01:30-0400",
        "01:30-0500",
        "02:30-0500",
    ]


def test_wildcard_hour_has_no_fires_in_a_gap() -> None:
    fires = upcoming("*/30 * * * *", utc(2027, 3, 28, 0, 0), BERLIN, 3)
    assert [f.isoformat() for f in fires] == [
        "2027-03-28T01:30:00+01:00",
        "2027-03-28T03:00:00+02:00",
        "2027-03-28T03:30:00+02:00",
    ]


def test_a_half_hour_overlap_fires_at_both_passes() -> None:
    # Lord Howe Island falls back from +11:00 to +10:30 at 02:00 on 2027-04-04.
    fires = upcoming("30 * * * *", utc(2027, 4, 3, 14, 0), LORD_HOWE, 3)
    assert in_utc(fires) == [utc(2027, 4, 3, 14, 30), utc(2027, 4, 3, 15, 0), utc(2027, 4, 3, 16)]


def test_fixed_hour_in_an_overlap_fires_once() -> None:
    fires = upcoming("0 1 * * *", utc(2027, 11, 6, 12), NEW_YORK, 2)
    assert in_utc(fires) == [utc(2027, 11, 7, 5, 0), utc(2027, 11, 8, 6, 0)]


@pytest.fixture(params=["UTC", "America/New_York", "Asia/Tokyo", "Pacific/Kiritimati"])
def process_tz(request: pytest.FixtureRequest) -> Iterator[str]:
    saved = os.environ.get("TZ")
    os.environ["TZ"] = request.param
    time.tzset()
    try:
        yield str(request.param)
    finally:
        if saved is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = saved
        time.tzset()


def test_kolkata_ten_am_is_0430_utc_whatever_the_process_tz(process_tz: str) -> None:
    assert time.tzname[0] != "IST"
    fires = upcoming("0 10 * * *", utc(2027, 3, 1), KOLKATA, 5)
    assert in_utc(fires) == [utc(2027, 3, day, 4, 30) for day in range(1, 6)]
    previous = compile_expression("0 10 * * *").previous_before(utc(2027, 3, 1), KOLKATA)
    assert previous is not None and previous.astimezone(UTC) == utc(2027, 2, 28, 4, 30)


# -- cron semantics (Debian/Vixie) ---------------------------------------------------------


def test_day_of_month_or_day_of_week_when_both_are_restricted() -> None:
    fires = upcoming("30 4 1,15 * 5", utc(2027, 1, 1), UTC_ZONE, 6)
    assert [f.date().day for f in fires] == [1, 8, 15, 22, 29, 1]
    assert fires[1].strftime("%a") == "Fri" and fires[5].month == 2


def test_day_of_month_and_day_of_week_when_one_is_a_star() -> None:
    fires = upcoming("0 0 13 * *", utc(2027, 1, 1), UTC_ZONE, 3)
    assert [(f.month, f.day) for f in fires] == [(1, 13), (2, 13), (3, 13)]


@pytest.mark.parametrize("text", ["0 0 * * 0", "0 0 * * 7", "0 0 * * sun", "@weekly"])
def test_sunday_is_0_and_7(text: str) -> None:
    fires = upcoming(text, utc(2027, 1, 1), UTC_ZONE, 3)
    assert [f.date().isoformat() for f in fires] == ["2027-01-03", "2027-01-10", "2027-01-17"]


def test_february_29th() -> None:
    fires = upcoming("0 0 29 2 *", utc(2027, 1, 1), UTC_ZONE, 2)
    assert [f.date().isoformat() for f in fires] == ["2028-02-29", "2032-02-29"]


def test_last_day_of_month() -> None:
    fires = upcoming("0 0 L * *", utc(2027, 12, 1), UTC_ZONE, 4)
    assert [f.date().isoformat() for f in fires] == [
        "2027-12-31",
        "2028-01-31",
        "2028-02-29",
        "2028-03-31",
    ]


def test_six_fields_are_seconds_first() -> None:
    fires = upcoming("*/15 * * * * *", utc(2027, 1, 1, 10, 0, 5), UTC_ZONE, 5)
    assert [(f.minute, f.second) for f in fires] == [(0, 15), (0, 30), (0, 45), (1, 0), (1, 15)]


def test_names_match_numbers_case_insensitively() -> None:
    def five(text: str) -> list[datetime]:
        return upcoming(text, utc(2027, 1, 1), UTC_ZONE, 5)

    assert five("0 9 * jan mon") == five("0 9 * 1 1")
    assert five("0 9 * * MON-FRI") == five("0 9 * * 1-5")
    assert all(f.month == 1 and f.weekday() == 0 for f in five("0 9 * JAN Mon"))


def test_ranges_steps_and_lists() -> None:
    fires = upcoming("0 9-17/4 * * *", utc(2027, 1, 1), UTC_ZONE, 4)
    assert [f.hour for f in fires] == [9, 13, 17, 9]
    fires = upcoming("5,10 0 * * *", utc(2027, 1, 1), UTC_ZONE, 3)
    assert [(f.day, f.minute) for f in fires] == [(1, 5), (1, 10), (2, 5)]


@pytest.mark.parametrize(
    ("preset", "fields"),
    [
        ("@yearly", "0 0 1 1 *"),
        ("@annually", "0 0 1 1 *"),
        ("@monthly", "0 0 1 * *"),
        ("@weekly", "0 0 * * 0"),
        ("@daily", "0 0 * * *"),
        ("@midnight", "0 0 * * *"),
        ("@hourly", "0 * * * *"),
    ],
)
def test_presets(preset: str, fields: str) -> None:
    start = datetime(2027, 3, 27, tzinfo=BERLIN)
    assert upcoming(preset, start, BERLIN, 5) == upcoming(fields, start, BERLIN, 5)


def test_every_keeps_a_grid_through_the_default_anchor() -> None:
    fires = upcoming("every 90s", datetime(2027, 1, 1, 10, 0, 10, tzinfo=KOLKATA), KOLKATA, 4)
    origin = EVERY_ANCHOR.replace(tzinfo=KOLKATA)
    assert all((f - origin) % timedelta(seconds=90) == timedelta() for f in fires)
    assert [b - a for a, b in pairwise(fires)] == [timedelta(seconds=90)] * 3
    assert fires[0] - datetime(2027, 1, 1, 10, 0, 10, tzinfo=KOLKATA) <= timedelta(seconds=90)


def test_every_with_an_anchor_starts_there() -> None:
    anchor = datetime(2027, 1, 1, 10, 0, 0, tzinfo=KOLKATA)
    expression = compile_expression("every 90s", anchor=anchor)
    fires = [
        o.at for o in islice(expression.occurrences(anchor - timedelta(seconds=1), KOLKATA), 3)
    ]
    assert [f.strftime("%H:%M:%S") for f in fires] == ["10:00:00", "10:01:30", "10:03:00"]
    assert expression.previous_before(anchor, KOLKATA) == anchor - timedelta(seconds=90)


def test_every_is_elapsed_time_across_dst() -> None:
    fires = upcoming("every 30m", utc(2027, 3, 28, 0, 15), BERLIN, 3)
    assert [f.isoformat() for f in fires] == [
        "2027-03-28T01:30:00+01:00",
        "2027-03-28T03:00:00+02:00",
        "2027-03-28T03:30:00+02:00",
    ]


def test_a_one_shot_fires_once() -> None:
    expression = compile_expression("2027-03-01T09:00:00")
    first = expression.next_after(utc(2027, 1, 1), KOLKATA)
    assert first is not None and first.astimezone(UTC) == utc(2027, 3, 1, 3, 30)
    assert expression.next_after(first, KOLKATA) is None
    assert expression.previous_before(first, KOLKATA) is None
    assert expression.previous_before(utc(2030, 1, 1), KOLKATA) == first
    with_offset = compile_expression("2027-03-01T09:00:00+00:00").next_after(
        utc(2027, 1, 1), KOLKATA
    )
    assert with_offset == utc(2027, 3, 1, 9, 0)


def test_a_one_shot_in_a_gap_fires_at_the_end_of_the_gap() -> None:
    expression = compile_expression("2027-03-28T02:30")
    assert expression.next_after(utc(2027, 1, 1), BERLIN) == utc(2027, 3, 28, 1, 0)


def test_results_are_aware_and_in_the_zone() -> None:
    for text in ("0 10 * * *", "30 * * * *", "every 2m", "2027-03-01T09:00", "@daily"):
        at = compile_expression(text).next_after(utc(2027, 1, 1), KOLKATA)
        assert at is not None and at.tzinfo == KOLKATA


def test_naive_after_is_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        compile_expression("* * * * *").next_after(datetime(2027, 1, 1), KOLKATA)


@pytest.mark.parametrize("tz", [BERLIN, NEW_YORK, LORD_HOWE])
@pytest.mark.parametrize("text", ["30 2 * * *", "*/30 * * * *", "0 30 1 * * *", "every 50m"])
def test_previous_before_mirrors_next_after_across_transitions(tz: ZoneInfo, text: str) -> None:
    expression = compile_expression(text)
    for start in (utc(2027, 3, 12), utc(2027, 3, 27), utc(2027, 4, 2), utc(2027, 10, 30)):
        fires = [o.at for o in islice(expression.occurrences(start, tz), 120)]
        for earlier, later in pairwise(fires):
            assert earlier.astimezone(UTC) < later.astimezone(UTC)
            assert expression.previous_before(later, tz) == earlier
            assert expression.next_after(earlier, tz) == later


# -- errors and warnings -------------------------------------------------------------------


def test_out_of_range_names_the_field() -> None:
    with pytest.raises(ScheduleError) as caught:
        compile_expression("61 * * * *")
    assert str(caught.value) == 'schedule "61 * * * *": minute field: 61 is out of range 0-59'
    assert isinstance(caught.value, DefinitionError)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("0 0 30 2 *", "never fires: day-of-month 30 does not occur in feb"),
        ("0 0 31 4,6,9,11 *", "never fires"),
        ("* * * *", "got 4 fields"),
        ("* * * * * * *", "got 7 fields"),
        ("@reboot", 'unknown preset "@reboot"'),
        ("@dayly", 'did you mean "@daily"?'),
        ("0 24 * * *", "hour field: 24 is out of range 0-23"),
        ("0 0 32 * *", "day-of-month field: 32 is out of range 1-31"),
        ("0 0 * 13 *", "month field: 13 is out of range 1-12"),
        ("0 0 * * 8", "day-of-week field: 8 is out of range 0-7"),
        ("0 0 * foo *", 'month field: "foo" is not a number 1-12 or a month name'),
        ("0 0 * * thurs", 'did you mean "thu"?'),
        ("5-3 * * * *", "minute field: range 5-3 is backwards"),
        ("*/0 * * * *", "minute field: step 0"),
        ("1,,2 * * * *", "minute field: empty item"),
        ("60 * * * * *", "second field: 60 is out of range 0-59"),
        ("every 5 minutes", "is not a duration"),
        ("every 0s", "longer than zero"),
        ("every", 'write "every <duration>"'),
        ("2027-02-30T10:00", "not a valid ISO-8601 date-time"),
        ("", "the schedule is empty"),
    ],
)
def test_bad_expressions(text: str, fragment: str) -> None:
    with pytest.raises(ScheduleError) as caught:
        compile_expression(text)
    assert fragment in str(caught.value)
    assert str(caught.value).startswith(f'schedule "{text}": ' if text else fragment)


def test_uneven_step_warning() -> None:
    assert expression_warnings("*/7 * * * *") == [
        "*/7 in the minute field does not divide 60 evenly: runs at :00 and :56 are 4 minutes apart"
    ]
    assert expression_warnings("0 */5 * * *") == [
        "*/5 in the hour field does not divide 24 evenly: runs at 00:00 and 20:00 are 4 hours apart"
    ]


@pytest.mark.parametrize("text", ["*/15 * * * *", "0 */6 * * *", "@daily", "every 7m", "61 * * *"])
def test_no_warning(text: str) -> None:
    assert expression_warnings(text) == []


def test_day_of_month_or_week_warning() -> None:
    (warning,) = expression_warnings("30 4 1,15 * 5")
    assert "EITHER" in warning


def test_every_kind_is_a_cron_expression() -> None:
    for text, kind in (("0 0 * * *", "cron"), ("every 2m", "every"), ("2027-01-01T00:00", "once")):
        expression = compile_expression(text)
        assert isinstance(expression, CronExpression)
        assert (expression.kind, expression.text) == (kind, text)
