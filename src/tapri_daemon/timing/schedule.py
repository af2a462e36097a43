"""A workflow's fire times: its expressions x its calendar x on_holiday x start/end dates.

Everything takes the instant to count from as an argument; nothing reads a clock. Instants
are compared in UTC (``dst.utc``): Python compares two datetimes of the same zone by wall
time alone, which is wrong inside a fall-back overlap.

How a stream of fires is built (``_stream``):
1. the nominal instants of all expressions, merged, equal instants once, inside start/end;
2. each one becomes a Fire: kept, skipped, or moved to the next/previous business day at
   the same local wall time;
3. the Fires go through a small queue that releases them in the order of the instant they
   happen (or, for skipped ones, would have happened) once no later nominal instant can
   produce an earlier one; two fires moved onto one instant become one.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from tapri_daemon import zones
from tapri_daemon.errors import ScheduleError, suggest
from tapri_daemon.model import Calendar, Workflow
from tapri_daemon.timing import dst
from tapri_daemon.timing.calendars import WorkingCalendar, calendar_problems
from tapri_daemon.timing.cron import CronExpression, Every, Occurrence, compile_expression, merge

OnHoliday = Literal["skip", "next_business_day", "previous_business_day"]
HORIZON = timedelta(days=20 * 366)
"""With on_holiday = skip, give up looking for a real fire after this long of skipped ones."""
_US = timedelta(microseconds=1)
_DAY = timedelta(days=1)


@dataclass(frozen=True, kw_only=True)
class Fire:
    """One nominal instant of a schedule and what became of it."""

    at: datetime | None
    """When it really fires (aware, in the workflow's zone); None if skipped."""
    nominal: datetime
    """The instant the expression produced."""
    moved_from: datetime | None = None
    """Set (to ``nominal``) when on_holiday moved it."""
    reason: str | None = None
    """Why it was skipped or moved ("holiday: Diwali", "weekend (sun)"), or a DST note."""

    @property
    def skipped(self) -> bool:
        return self.at is None

    @property
    def key(self) -> datetime:
        """The UTC instant it fires at, or for a skipped one the nominal instant."""
        return dst.utc(self.at if self.at is not None else self.nominal)


@dataclass(frozen=True, kw_only=True)
class WorkflowSchedule:
    """When one workflow fires. Build it with ``from_workflow``."""

    timezone: ZoneInfo
    expressions: tuple[CronExpression, ...] = ()
    calendar: WorkingCalendar | None = None
    on_holiday: OnHoliday = "skip"
    start: datetime | None = None
    """The first instant a nominal fire may have (inclusive), from start_date."""
    end: datetime | None = None
    """The last instant a nominal fire may have (inclusive), from end_date."""

    @classmethod
    def from_workflow(
        cls, workflow: Workflow, *, default_timezone: str, calendars: Mapping[str, Calendar]
    ) -> WorkflowSchedule:
        """Compile a workflow's schedule; raise ScheduleError (TimezoneError for a bad zone)."""
        tz = zones.zone(workflow.timezone or default_timezone)
        start = _bound(workflow.start_date, tz, last=False)
        end = _bound(workflow.end_date, tz, last=True)
        if start is not None and end is not None and dst.utc(end) < dst.utc(start):
            reason = f"end_date {workflow.end_date} is before start_date {workflow.start_date}"
            raise ScheduleError("", reason)
        return cls(
            timezone=tz,
            expressions=tuple(compile_expression(t, anchor=start) for t in workflow.schedule),
            calendar=_calendar(workflow.calendar, calendars),
            on_holiday=workflow.on_holiday,
            start=start,
            end=end,
        )

    @property
    def is_manual(self) -> bool:
        """No schedule: the workflow only runs when triggered."""
        return not self.expressions

    def fires(self, after: datetime) -> Iterator[Fire]:
        """Every fire after ``after``, skipped ones included, in the order they happen."""
        return self._stream(after, real_only=False)

    def next_fire(self, after: datetime) -> datetime | None:
        """The first real fire strictly after ``after``, or None."""
        first = next(self._stream(after, real_only=True), None)
        return first.at if first is not None else None

    def previous_fire(self, before: datetime) -> datetime | None:
        """The last real fire strictly before ``before``, or None."""
        return self._last_before(dst.utc(before), floor=None)

    def latest_between(self, after: datetime, until: datetime) -> datetime | None:
        """The last real fire in (after, until], or None."""
        return self._last_before(dst.utc(until) + _US, floor=dst.utc(after))

    def count_between(self, after: datetime, until: datetime) -> int:
        """How many real fires fall in (after, until], without building them all."""
        floor, ceiling = dst.utc(after), dst.utc(until)
        if ceiling <= floor:
            return 0
        if self.calendar is None:
            return self._count_plain(floor, ceiling)
        fires = self._stream(after, real_only=True, until=ceiling)
        return sum(1 for _ in itertools.takewhile(lambda f: f.key <= ceiling, fires))

    # -- the stream ------------------------------------------------------------------

    def _stream(
        self, after: datetime, *, real_only: bool, until: datetime | None = None
    ) -> Iterator[Fire]:
        """Fires after ``after`` in order; with ``until``, at least those up to it."""
        queue = _Queue(floor=dst.utc(after), real_only=real_only)
        jump = real_only and self.on_holiday == "skip" and self.calendar is not None
        cutoff = self._cutoff(until)
        for occurrence in self._nominals(self._scan_from(after), jump=jump, cutoff=cutoff):
            queue.push(self._fire_for(occurrence))
            yield from queue.release(self._release_bound(occurrence))
        yield from queue.release(None)

    def _scan_from(self, after: datetime) -> datetime:
        """Where nominal instants start: earlier than ``after`` when moves go forward."""
        begin = dst.utc(after)
        if self.calendar is not None and self.on_holiday == "next_business_day":
            day = dst.local(after, self.timezone).date()
            first_idle = self.calendar.previous_business_day(day) + _DAY
            begin = min(begin, dst.utc(dst.start_of_day(first_idle, self.timezone)) - _US)
        if self.start is not None:
            begin = max(begin, dst.utc(self.start) - _US)
        return begin

    def _merged(self, after: datetime) -> Iterator[Occurrence]:
        return merge(e.occurrences(after, self.timezone) for e in self.expressions)

    def _cutoff(self, until: datetime | None) -> datetime | None:
        """The last nominal instant (UTC) that can fire at or before ``until`` (UTC)."""
        ends = [dst.utc(self.end)] if self.end is not None else []
        if until is not None and self.calendar and self.on_holiday == "previous_business_day":
            later = self.calendar.next_business_day(dst.local(until, self.timezone).date())
            ends.append(dst.utc(dst.start_of_day(later, self.timezone)))
        elif until is not None:
            ends.append(until)
        return min(ends, default=None)

    def _nominals(
        self, after: datetime, *, jump: bool, cutoff: datetime | None
    ) -> Iterator[Occurrence]:
        """Nominal instants up to ``cutoff``; with ``jump``, non-working days are passed."""
        cursor, since = after, after
        while cursor - since <= HORIZON:
            for occurrence in self._merged(cursor):
                if cutoff is not None and occurrence.utc > cutoff:
                    return
                if jump and not self._working(occurrence.at):
                    cursor = self._next_working_start(occurrence.at)
                    break
                since = occurrence.utc
                yield occurrence
            else:
                return

    def _working(self, at: datetime) -> bool:
        return self.calendar is None or self.calendar.is_working_day(at.date())

    def _next_working_start(self, at: datetime) -> datetime:
        assert self.calendar is not None
        day = self.calendar.next_business_day(at.date())
        return dst.utc(dst.start_of_day(day, self.timezone)) - _US

    def _fire_for(self, occurrence: Occurrence) -> Fire:
        at = occurrence.at
        why = self.calendar.why_not_working(at.date()) if self.calendar else None
        if why is None:
            return Fire(at=at, nominal=at, reason=occurrence.note)
        reason = _join(why, occurrence.note)
        if self.on_holiday == "skip":
            return Fire(at=None, nominal=at, reason=reason)
        target = self._business_day(at.date())
        moved = dst.resolve(datetime.combine(target, at.time()), self.timezone)
        if not self._inside(moved):
            outside = f"{self.on_holiday.replace('_', ' ')} {target} is outside start/end_date"
            return Fire(at=None, nominal=at, reason=_join(reason, outside))
        return Fire(at=moved, nominal=at, moved_from=at, reason=reason)

    def _business_day(self, day: date) -> date:
        assert self.calendar is not None
        if self.on_holiday == "next_business_day":
            return self.calendar.next_business_day(day)
        return self.calendar.previous_business_day(day)

    def _inside(self, instant: datetime) -> bool:
        moment = dst.utc(instant)
        after_start = self.start is None or moment >= dst.utc(self.start)
        return after_start and (self.end is None or moment <= dst.utc(self.end))

    def _release_bound(self, occurrence: Occurrence) -> datetime:
        """Every fire from a later nominal instant happens after this (UTC)."""
        if self.calendar is None or self.on_holiday != "previous_business_day":
            return occurrence.utc
        earlier = self.calendar.previous_business_day(occurrence.at.date())
        return dst.utc(dst.start_of_day(earlier, self.timezone)) - _US

    # -- counting and looking back -----------------------------------------------------

    def _count_plain(self, floor: datetime, ceiling: datetime) -> int:
        """Without a calendar every nominal instant fires: count them, by arithmetic for
        a single ``every``."""
        if self.start is not None:
            floor = max(floor, dst.utc(self.start) - _US)
        if self.end is not None:
            ceiling = min(ceiling, dst.utc(self.end))
        if ceiling <= floor:
            return 0
        if len(self.expressions) == 1 and isinstance(self.expressions[0], Every):
            return self.expressions[0].count_between(floor, ceiling, self.timezone)
        instants = self._merged(floor)
        return sum(1 for _ in itertools.takewhile(lambda o: o.utc <= ceiling, instants))

    def _last_plain(self, before: datetime, floor: datetime | None) -> datetime | None:
        """The last nominal instant before ``before`` inside start/end (and above floor)."""
        if self.end is not None:
            before = min(before, dst.utc(self.end) + _US)
        found = _latest(e.previous_before(before, self.timezone) for e in self.expressions)
        if found is None or (self.start is not None and dst.utc(found) < dst.utc(self.start)):
            return None
        return found if floor is None or dst.utc(found) > floor else None

    def _last_before(self, before: datetime, floor: datetime | None) -> datetime | None:
        """The last real fire before ``before`` and above ``floor`` (both UTC)."""
        if self.calendar is None:
            return self._last_plain(before, floor)
        lowest = floor if floor is not None else self._lowest(before)
        if self.on_holiday == "skip":
            return self._last_skipping(before, lowest)
        return self._last_moving(before, lowest)

    def _last_skipping(self, before: datetime, lowest: datetime) -> datetime | None:
        """Nominal instants backwards; a non-working day is passed in one step."""
        limit = before
        while (guess := self._last_plain(limit, lowest)) is not None:
            if self._working(guess):
                return guess
            limit = dst.utc(dst.start_of_day(guess.date(), self.timezone))
        return None

    def _last_moving(self, before: datetime, lowest: datetime) -> datetime | None:
        """One working day at a time, backwards, each read forwards with the stream (which
        also sees fires moved onto that day from neighbouring non-working days)."""
        limit, day = before, self._working_on_or_before(dst.local(before, self.timezone).date())
        while True:
            begin = max(dst.utc(dst.start_of_day(day, self.timezone)) - _US, lowest)
            found = self._last_in(begin, limit)
            if found is not None or begin <= lowest:
                return found
            limit = begin + _US
            guess = self._last_plain(limit, None)  # may be below floor yet move above it
            if guess is None:
                return None
            day = self._working_on_or_before(guess.date())

    def _working_on_or_before(self, day: date) -> date:
        assert self.calendar is not None
        return (
            day if self.calendar.is_working_day(day) else self.calendar.previous_business_day(day)
        )

    def _lowest(self, before: datetime) -> datetime:
        return dst.utc(self.start) - _US if self.start is not None else before - HORIZON

    def _last_in(self, begin: datetime, before: datetime) -> datetime | None:
        found: datetime | None = None
        for fire in self._stream(begin, real_only=True, until=before):
            if fire.key >= before:
                break
            found = fire.at
        return found


@dataclass(kw_only=True)
class _Queue:
    """Fires in, fires out in the order they happen; two real fires on one instant -> one."""

    floor: datetime
    real_only: bool
    heap: list[tuple[datetime, int, int, Fire]] = field(default_factory=list)
    last_real: datetime | None = None
    counter: Iterator[int] = field(default_factory=itertools.count)

    def push(self, fire: Fire) -> None:
        rank = 2 if fire.skipped else (1 if fire.moved_from is not None else 0)
        heapq.heappush(self.heap, (fire.key, rank, next(self.counter), fire))

    def release(self, bound: datetime | None) -> Iterator[Fire]:
        """Fires whose key is <= bound (all of them when bound is None)."""
        while self.heap and (bound is None or self.heap[0][0] <= bound):
            key, _, _, fire = heapq.heappop(self.heap)
            fire = self._deduplicated(key, fire)
            if key > self.floor and not (self.real_only and fire.skipped):
                yield fire

    def _deduplicated(self, key: datetime, fire: Fire) -> Fire:
        if fire.skipped:
            return fire
        if key == self.last_real and fire.at is not None:
            note = f"moved onto {fire.at.isoformat()}, which already fires"
            return replace(fire, at=None, moved_from=None, reason=_join(fire.reason, note))
        self.last_real = key
        return fire


def _join(*parts: str | None) -> str | None:
    kept = [part for part in parts if part]
    return "; ".join(kept) if kept else None


def _latest(candidates: Iterable[datetime | None]) -> datetime | None:
    present = [c for c in candidates if c is not None]
    return max(present, key=dst.utc) if present else None


def _bound(value: datetime | date | None, tz: ZoneInfo, *, last: bool) -> datetime | None:
    """start_date/end_date as an aware instant. A date means its whole local day: from its
    first instant (start) or up to its last microsecond (end). Naive = wall time in tz."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(tz) if value.tzinfo else dst.resolve(value, tz)
    if not last:
        return dst.start_of_day(value, tz)
    next_day = dst.utc(dst.start_of_day(value + _DAY, tz))
    return (next_day - _US).astimezone(tz)


def _calendar(name: str | None, calendars: Mapping[str, Calendar]) -> WorkingCalendar | None:
    if name is None:
        return None
    if name not in calendars:
        raise ScheduleError("", f'unknown calendar "{name}"{suggest(name, calendars)}')
    for key, message in calendar_problems(calendars[name]):
        raise ScheduleError("", f'calendar "{name}": {".".join(key)}: {message}')
    return WorkingCalendar.from_model(calendars[name])
