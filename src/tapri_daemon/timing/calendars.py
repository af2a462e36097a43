"""Working days: weekends, public and market holidays (the holidays package), overrides.

A day is a working day when it is not a weekend day and not a holiday (the country's or
subdivision's public holidays, the market's trading holidays, ``extra_holidays``), or when it
is listed in ``extra_workdays``, which wins over everything else.

Building a holidays object is slow, so each (country, subdiv, market, year) is built once
per process and cached.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from types import MappingProxyType

import holidays

from tapri_daemon.errors import DefinitionError, suggest
from tapri_daemon.model import Calendar

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
EXTRA_HOLIDAY = "extra holiday"
SEARCH_DAYS = 3660
"""How far next/previous_business_day look before giving up (about ten years)."""
_DAY = timedelta(days=1)


@dataclass(frozen=True, kw_only=True)
class WorkingCalendar:
    """The working-day questions for one ``[calendar.NAME]``."""

    country: str | None = None
    subdiv: str | None = None
    market: str | None = None
    weekend: frozenset[int] = frozenset({5, 6})
    """date.weekday() numbers: 0 = Monday ... 6 = Sunday."""
    extra_holidays: frozenset[date] = frozenset()
    extra_workdays: frozenset[date] = frozenset()

    @classmethod
    def from_model(cls, calendar: Calendar) -> WorkingCalendar:
        return cls(
            country=calendar.country,
            subdiv=calendar.subdiv,
            market=calendar.market,
            weekend=frozenset(WEEKDAYS.index(day) for day in calendar.weekend),
            extra_holidays=frozenset(calendar.extra_holidays),
            extra_workdays=frozenset(calendar.extra_workdays),
        )

    def holidays(self, year: int) -> dict[date, str]:
        """Every holiday of the year with its name (market names first), extras included."""
        return dict(_year_of(self, year))

    def holiday_name(self, day: date) -> str | None:
        return _year_of(self, day.year).get(day)

    def why_not_working(self, day: date) -> str | None:
        """ "weekend (sat)", "holiday: Diwali Balipratipada", or None on a working day."""
        if day in self.extra_workdays:
            return None
        if day.weekday() in self.weekend:
            return f"weekend ({WEEKDAYS[day.weekday()]})"
        name = self.holiday_name(day)
        return f"holiday: {name}" if name is not None else None

    def is_working_day(self, day: date) -> bool:
        return self.why_not_working(day) is None

    def next_business_day(self, day: date) -> date:
        """The first working day strictly after ``day``."""
        return self._search(day, _DAY)

    def previous_business_day(self, day: date) -> date:
        """The last working day strictly before ``day``."""
        return self._search(day, -_DAY)

    def _search(self, day: date, step: timedelta) -> date:
        return _search(self, day, step)

    def sources(self, year: int) -> list[Mapping[date, str]]:
        """The holidays package's lists for the year: the market's, then the country's."""
        found: list[Mapping[date, str]] = []
        if self.market:
            found.append(_market_holidays(self.market, year))
        if self.country:
            found.append(_public_holidays(self.country, self.subdiv, year))
        return found


@functools.lru_cache(maxsize=4096)
def _search(calendar: WorkingCalendar, day: date, step: timedelta) -> date:
    probe = day
    for _ in range(SEARCH_DAYS):
        probe += step
        if calendar.is_working_day(probe):
            return probe
    raise DefinitionError(
        f"the calendar has no working day within {SEARCH_DAYS} days of {day.isoformat()}"
    )


@functools.lru_cache(maxsize=1024)
def _year_of(calendar: WorkingCalendar, year: int) -> Mapping[date, str]:
    names: dict[date, list[str]] = {}
    for source in calendar.sources(year):
        for day, name in source.items():
            known = names.setdefault(day, [])
            known.extend(part for part in name.split("; ") if part not in known)
    found = {day: "; ".join(parts) for day, parts in names.items()}
    for day in calendar.extra_holidays:
        if day.year == year:
            found.setdefault(day, EXTRA_HOLIDAY)
    return MappingProxyType(dict(sorted(found.items())))


@functools.lru_cache(maxsize=1024)
def _public_holidays(country: str, subdiv: str | None, year: int) -> Mapping[date, str]:
    with warnings.catch_warnings():  # "available only from 2001 to 2035": an empty year
        warnings.simplefilter("ignore", UserWarning)
        built = holidays.country_holidays(country, subdiv=subdiv, years=year)
    return MappingProxyType(dict(built.items()))


@functools.lru_cache(maxsize=1024)
def _market_holidays(market: str, year: int) -> Mapping[date, str]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        built = holidays.financial_holidays(market, years=year)
    return MappingProxyType(dict(built.items()))


def calendar_problems(calendar: Calendar) -> list[tuple[tuple[str, ...], str]]:
    """Every problem of a calendar as (key path inside the calendar, message)."""
    problems: list[tuple[tuple[str, ...], str]] = []
    if calendar.country is not None and (message := _country_problem(calendar.country)):
        problems.append((("country",), message))
    elif calendar.subdiv is not None and (message := _subdiv_problem(calendar)):
        problems.append((("subdiv",), message))
    if calendar.market is not None and (message := _market_problem(calendar.market)):
        problems.append((("market",), message))
    if both := sorted(set(calendar.extra_holidays) & set(calendar.extra_workdays)):
        shown = ", ".join(day.isoformat() for day in both)
        problems.append((("extra_workdays",), f"{shown} is also in extra_holidays: choose one"))
    if len(set(calendar.weekend)) == 7 and not calendar.extra_workdays:
        problems.append((("weekend",), "every day of the week is a weekend day: nothing can run"))
    return problems


@functools.cache
def _countries() -> Mapping[str, list[str]]:
    return holidays.list_supported_countries()


@functools.cache
def _markets() -> Mapping[str, list[str]]:
    return holidays.list_supported_financial()


def _country_problem(country: str) -> str | None:
    codes = _countries()
    if country in codes:
        return None
    by_name = _country_names()
    hint = f' (did you mean "{by_name[country.lower()]}"?)' if country.lower() in by_name else ""
    hint = hint or suggest(country, codes)
    return f'unknown country "{country}"{hint}: use an ISO 3166 code such as "IN"'


def _subdiv_problem(calendar: Calendar) -> str | None:
    if calendar.country is None:
        return 'subdiv needs a country (e.g. country = "IN", subdiv = "MH")'
    known = _countries()[calendar.country]
    if calendar.subdiv in known:
        return None
    try:
        holidays.country_holidays(calendar.country, subdiv=calendar.subdiv, years=())
    except NotImplementedError:
        shown = ", ".join(known) if known else "none"
        hint = suggest(str(calendar.subdiv), known)
        return (
            f'unknown subdiv "{calendar.subdiv}" for country {calendar.country}{hint} '
            f"(known: {shown})"
        )
    return None


def _market_problem(market: str) -> str | None:
    markets = _markets()
    if market in markets:
        return None
    hint = suggest(market, markets)
    return f'unknown market "{market}"{hint}: use an ISO 10383 MIC such as "XNSE" or "XBOM"'


@functools.cache
def _country_names() -> dict[str, str]:
    """Lower-case English country names (from the holidays registry) to their codes."""
    registry = getattr(holidays, "registry", None)
    countries: Mapping[str, tuple[str, ...]] = getattr(registry, "COUNTRIES", {})
    names: dict[str, str] = {}
    for entry in countries.values():
        if len(entry) >= 2:
            names[_words(entry[0])] = entry[1]
    return names


def _words(class_name: str) -> str:
    """ "UnitedStates" -> "united states"."""
    spaced = "".join(f" {c}" if c.isupper() else c for c in class_name).strip()
    return spaced.lower()
