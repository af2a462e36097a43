"""Working-day calendars: weekends, public and market holidays, overrides, problems."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from tapri_daemon.model import Calendar
from tapri_daemon.timing.calendars import EXTRA_HOLIDAY, WorkingCalendar, calendar_problems

DIWALI_BALIPRATIPADA = date(2026, 11, 10)  # a Tuesday, an NSE trading holiday
SATURDAY = date(2026, 11, 7)
SUNDAY = date(2026, 11, 8)
MONDAY = date(2026, 11, 9)


def nse(**overrides: object) -> WorkingCalendar:
    return WorkingCalendar.from_model(Calendar(country="IN", market="XNSE", **overrides))


def test_an_nse_holiday_is_not_a_working_day() -> None:
    calendar = nse()
    assert DIWALI_BALIPRATIPADA.weekday() == 1
    assert not calendar.is_working_day(DIWALI_BALIPRATIPADA)
    assert calendar.why_not_working(DIWALI_BALIPRATIPADA) == "holiday: Diwali Balipratipada"
    assert calendar.holidays(2026)[DIWALI_BALIPRATIPADA] == "Diwali Balipratipada"
    assert calendar.is_working_day(MONDAY)
    assert calendar.why_not_working(MONDAY) is None


def test_a_market_alone_knows_its_holidays() -> None:
    market_only = WorkingCalendar.from_model(Calendar(market="XNSE"))
    assert not market_only.is_working_day(DIWALI_BALIPRATIPADA)
    assert market_only.is_working_day(date(2026, 8, 26))  # a public holiday, not a trading one


def test_bse_and_nse_share_the_trading_holidays() -> None:
    bse = WorkingCalendar.from_model(Calendar(market="XBOM"))
    nse_only = WorkingCalendar.from_model(Calendar(market="XNSE"))
    for year in (2025, 2026):
        assert bse.holidays(year) == nse_only.holidays(year)
        assert bse.holidays(year)


def test_weekends() -> None:
    calendar = nse()
    assert calendar.why_not_working(SATURDAY) == "weekend (sat)"
    assert calendar.why_not_working(SUNDAY) == "weekend (sun)"
    gulf = WorkingCalendar.from_model(Calendar(weekend=("fri", "sat")))
    assert gulf.is_working_day(SUNDAY)
    assert gulf.why_not_working(date(2026, 11, 6)) == "weekend (fri)"


def test_next_business_day_moves_a_saturday_to_monday() -> None:
    calendar = nse()
    assert calendar.next_business_day(SATURDAY) == MONDAY
    assert calendar.next_business_day(date(2026, 11, 6)) == MONDAY  # strictly after a Friday
    assert calendar.next_business_day(MONDAY) == date(2026, 11, 11)  # over the holiday


def test_previous_business_day_goes_back_over_holidays_and_weekends() -> None:
    calendar = nse()
    assert calendar.previous_business_day(date(2026, 11, 11)) == MONDAY
    assert calendar.previous_business_day(MONDAY) == date(2026, 11, 6)


def test_extra_workdays_win_over_the_weekend_and_holidays() -> None:
    calendar = nse(extra_workdays=(SUNDAY, DIWALI_BALIPRATIPADA))
    assert calendar.is_working_day(SUNDAY)
    assert calendar.is_working_day(DIWALI_BALIPRATIPADA)
    assert calendar.next_business_day(SATURDAY) == SUNDAY
    assert DIWALI_BALIPRATIPADA in calendar.holidays(2026)  # still a holiday by name


def test_extra_holidays_count() -> None:
    new_years_eve = date(2026, 12, 31)
    calendar = nse(extra_holidays=(new_years_eve,))
    assert calendar.why_not_working(new_years_eve) == f"holiday: {EXTRA_HOLIDAY}"
    assert calendar.holidays(2026)[new_years_eve] == EXTRA_HOLIDAY
    assert new_years_eve not in calendar.holidays(2027)
    assert nse().is_working_day(new_years_eve)


def test_an_extra_holiday_on_a_named_holiday_keeps_the_name() -> None:
    calendar = nse(extra_holidays=(DIWALI_BALIPRATIPADA,))
    assert calendar.why_not_working(DIWALI_BALIPRATIPADA) == "holiday: Diwali Balipratipada"


def test_country_and_subdivision_holidays() -> None:
    maharashtra = WorkingCalendar.from_model(Calendar(country="IN", subdiv="MH"))
    india = WorkingCalendar.from_model(Calendar(country="IN"))
    maharashtra_day = date(2026, 5, 1)  # a Friday
    assert "Maharashtra Day" in (maharashtra.why_not_working(maharashtra_day) or "")
    assert len(maharashtra.holidays(2026)) > len(india.holidays(2026))


def test_holidays_returns_a_copy() -> None:
    calendar = nse()
    calendar.holidays(2026).clear()
    assert calendar.holidays(2026)


def test_a_year_of_lookups_is_cheap_after_the_first() -> None:
    calendar = nse()
    day = date(2026, 1, 1)
    working = sum(calendar.is_working_day(day + timedelta(days=n)) for n in range(365))
    assert 230 < working < 262


def test_no_problems_for_a_good_calendar() -> None:
    good = Calendar(country="IN", subdiv="MH", market="XNSE", extra_workdays=(SUNDAY,))
    assert calendar_problems(good) == []
    assert calendar_problems(Calendar(country="IN", subdiv="Maharashtra")) == []


@pytest.mark.parametrize(
    ("fields", "key", "fragment"),
    [
        ({"country": "XX"}, ("country",), 'unknown country "XX"'),
        ({"country": "India"}, ("country",), 'did you mean "IN"?'),
        ({"country": "in"}, ("country",), 'did you mean "IN"?'),
        ({"country": "IN", "subdiv": "XX"}, ("subdiv",), 'unknown subdiv "XX" for country IN'),
        ({"country": "IN", "subdiv": "mh"}, ("subdiv",), 'did you mean "MH"?'),
        ({"subdiv": "MH"}, ("subdiv",), "subdiv needs a country"),
        ({"market": "xnse"}, ("market",), 'unknown market "xnse" (did you mean "XNSE"?)'),
        ({"market": "XYZQ"}, ("market",), 'unknown market "XYZQ"'),
        (
            {"weekend": ("mon", "tue", "wed", "thu", "fri", "sat", "sun")},
            ("weekend",),
            "every day of the week",
        ),
        (
            {"extra_holidays": (SUNDAY,), "extra_workdays": (SUNDAY,)},
            ("extra_workdays",),
            "2026-11-08 is also in extra_holidays",
        ),
    ],
)
def test_calendar_problems(fields: dict[str, object], key: tuple[str, ...], fragment: str) -> None:
    problems = calendar_problems(Calendar(**fields))
    assert [k for k, _ in problems] == [key]
    assert fragment in problems[0][1]
