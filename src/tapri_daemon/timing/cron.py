"""Schedule expressions: cron (5 or 6 fields), presets, ``every <duration>``, one-shots.

``compile_expression`` turns the text of one schedule into a ``CronExpression`` that answers
"what is the next instant strictly after X in zone Z" (and the previous one). Nothing here
reads a clock. The rules, including the DST policy, are written down in docs/scheduling.md.

Cron evaluation is cronsim's (Debian/Vixie semantics). Fixed-time expressions (minute and
hour fields that do not start with ``*``) are evaluated on naive wall time and each wall
time is mapped to an instant by ``dst.resolve`` (gap: end of the gap; overlap: the first);
the other expressions are evaluated on aware time, so they fire at every real instant.
"""

from __future__ import annotations

import functools
import heapq
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from cronsim import CronSim
from cronsim.cronsim import CronSimError
from cronsim.cronsim import Field as CronField

from tapri_daemon.durations import parse_duration
from tapri_daemon.errors import DurationError, ScheduleError, suggest
from tapri_daemon.timing import dst, fields

ExpressionKind = Literal["cron", "every", "once"]
PRESETS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
EVERY_ANCHOR = datetime(2000, 1, 1)
"""Where an ``every`` grid starts when no anchor (start_date) is given: local wall time."""

_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}(?:[T ]|$)")
_PROBE_FROM = datetime(2000, 1, 1)
_ZERO = timedelta()
_SECOND = timedelta(seconds=1)
_FORMS = '5 fields, 6 with seconds first, a preset such as @daily, "every 90s" or an ISO date-time'


@dataclass(frozen=True, kw_only=True)
class Occurrence:
    """One instant an expression produces, with a note when DST moved it."""

    at: datetime
    note: str | None = None

    @functools.cached_property
    def utc(self) -> datetime:
        """The instant in UTC: compare these, never ``at`` (same-zone compares ignore fold)."""
        return self.at.astimezone(UTC)


@dataclass(frozen=True, kw_only=True)
class CronExpression:
    """A compiled schedule expression; ``compile_expression`` builds the right kind."""

    text: str
    kind: ExpressionKind = "cron"

    def occurrences(self, after: datetime, tz: ZoneInfo) -> Iterator[Occurrence]:
        """Every instant strictly after ``after``, increasing, aware in ``tz``."""
        raise NotImplementedError

    def previous_before(self, before: datetime, tz: ZoneInfo) -> datetime | None:
        """The last instant strictly before ``before``, or None."""
        raise NotImplementedError

    def next_after(self, after: datetime, tz: ZoneInfo) -> datetime | None:
        """The first instant strictly after ``after`` (aware, in ``tz``), or None."""
        first = next(self.occurrences(after, tz), None)
        return first.at if first is not None else None


@dataclass(frozen=True, kw_only=True)
class CronFields(CronExpression):
    """A 5- or 6-field cron expression (presets compile to one of these)."""

    fields: str
    """Six fields, seconds first, as cronsim reads them."""
    fixed_time: bool
    """Minute and hour do not start with ``*``: the DST policy for wall times applies."""

    def occurrences(self, after: datetime, tz: ZoneInfo) -> Iterator[Occurrence]:
        start = dst.local(after, tz)
        if self.fixed_time:
            return _strictly_increasing(_fixed_forward(self.fields, start, tz), after)
        return _strictly_increasing(_real_forward(self.fields, start, tz), after)

    def previous_before(self, before: datetime, tz: ZoneInfo) -> datetime | None:
        end = dst.local(before, tz)
        if self.fixed_time:
            return _fixed_previous(self.fields, end, tz)
        return _real_previous(self.fields, end, tz)


@dataclass(frozen=True, kw_only=True)
class Every(CronExpression):
    """A fixed interval of elapsed time on a grid through ``anchor``."""

    interval: timedelta
    anchor: datetime | None = None
    """An instant (aware) or a wall time (naive, in the workflow's zone); None: EVERY_ANCHOR."""

    def origin(self, tz: ZoneInfo) -> datetime:
        wall = self.anchor or EVERY_ANCHOR
        instant = wall if wall.tzinfo is not None else dst.resolve(wall, tz)
        return instant.astimezone(UTC)

    def index_at_or_before(self, instant: datetime, tz: ZoneInfo) -> int:
        """k of the last grid instant origin + k*interval that is <= instant."""
        return (instant - self.origin(tz)) // self.interval

    def occurrences(self, after: datetime, tz: ZoneInfo) -> Iterator[Occurrence]:
        origin = self.origin(tz)
        step = self.index_at_or_before(dst.local(after, tz), tz) + 1
        while True:
            try:
                yield Occurrence(at=(origin + step * self.interval).astimezone(tz))
            except OverflowError:
                return
            step += 1

    def previous_before(self, before: datetime, tz: ZoneInfo) -> datetime | None:
        origin = self.origin(tz)
        step = -((origin - dst.local(before, tz)) // self.interval) - 1
        try:
            return (origin + step * self.interval).astimezone(tz)
        except OverflowError:
            return None

    def count_between(self, after: datetime, until: datetime, tz: ZoneInfo) -> int:
        """Grid instants in (after, until], by arithmetic."""
        if dst.utc(until) <= dst.utc(after):
            return 0
        return self.index_at_or_before(until, tz) - self.index_at_or_before(after, tz)


@dataclass(frozen=True, kw_only=True)
class OneShot(CronExpression):
    """One ISO-8601 date-time; naive means wall time in the workflow's zone."""

    when: datetime

    def instant(self, tz: ZoneInfo) -> Occurrence:
        if self.when.tzinfo is not None:
            return Occurrence(at=self.when.astimezone(tz))
        at, note = dst.resolve_with_note(self.when, tz)
        return Occurrence(at=at, note=note)

    def occurrences(self, after: datetime, tz: ZoneInfo) -> Iterator[Occurrence]:
        once = self.instant(tz)
        if dst.utc(once.at) > dst.utc(after):
            yield once

    def previous_before(self, before: datetime, tz: ZoneInfo) -> datetime | None:
        at = self.instant(tz).at
        return at if dst.utc(at) < dst.utc(before) else None


def _fixed_forward(cron: str, start: datetime, tz: ZoneInfo) -> Iterator[Occurrence]:
    # Walls before start's wall time resolve to instants <= start (resolve is monotonic),
    # so iterating naive time from there and dropping what is not after start is exact.
    for wall in CronSim(cron, start.replace(tzinfo=None)):
        at, note = dst.resolve_with_note(wall, tz)
        yield Occurrence(at=at, note=note)


def _real_forward(cron: str, start: datetime, tz: ZoneInfo) -> Iterator[Occurrence]:
    # Naive walls, each mapped to every real instant showing it. The walls of an overlap
    # are collected first: their first passes all come before their second passes.
    wall = start.replace(tzinfo=None) - dst.overlap_size(start.replace(tzinfo=None), tz)
    group: list[tuple[datetime, ...]] = []
    mapper = dst.WallMapper(tz)
    for found in CronSim(cron, wall - _SECOND):
        both = mapper.instants(found)
        if len(both) == 2:
            group.append(both)
            continue
        if group:
            yield from _flush(group)
        for at in both:
            yield Occurrence(at=at)
    yield from _flush(group)


def _flush(group: list[tuple[datetime, ...]]) -> Iterator[Occurrence]:
    passes = [pair[0] for pair in group] + [pair[1] for pair in group]
    group.clear()
    return (Occurrence(at=at) for at in passes)


def _real_previous(cron: str, end: datetime, tz: ZoneInfo) -> datetime | None:
    wall = end.replace(tzinfo=None) + dst.overlap_size(end.replace(tzinfo=None), tz)
    limit = dst.utc(end)
    best: datetime | None = None
    for found in CronSim(cron, wall + _SECOND, reverse=True):
        both = dst.instants(found, tz)
        for at in both:
            if dst.utc(at) < limit and (best is None or dst.utc(at) > dst.utc(best)):
                best = at
        if best is not None and len(both) < 2:
            return best
    return best


def _fixed_previous(cron: str, end: datetime, tz: ZoneInfo) -> datetime | None:
    # In an overlap's second pass, walls up to end + (its size) still resolve to instants
    # before `end` (they resolve to the first pass), so start the naive search that late.
    size = (end.replace(fold=0).utcoffset() or _ZERO) - (end.utcoffset() or _ZERO)
    wall = end.replace(tzinfo=None) + max(size, _ZERO)
    limit = dst.utc(end)
    for found in CronSim(cron, wall, reverse=True):
        if dst.utc(at := dst.resolve(found, tz)) < limit:
            return at
    return None


def _strictly_increasing(source: Iterable[Occurrence], after: datetime) -> Iterator[Occurrence]:
    last = dst.utc(after)
    for occurrence in source:
        if occurrence.utc > last:
            last = occurrence.utc
            yield occurrence


def merge(sources: Iterable[Iterator[Occurrence]]) -> Iterator[Occurrence]:
    """Several increasing streams as one, equal instants once (the first one's note wins)."""
    streams = list(sources)
    if len(streams) == 1:
        return streams[0]
    return _unique(heapq.merge(*streams, key=lambda o: o.utc))


def _unique(occurrences: Iterator[Occurrence]) -> Iterator[Occurrence]:
    last: datetime | None = None
    for occurrence in occurrences:
        if last is None or occurrence.utc > last:
            last = occurrence.utc
            yield occurrence


def compile_expression(text: str, *, anchor: datetime | None = None) -> CronExpression:
    """Compile one schedule string; raise ScheduleError naming what is wrong."""
    spec = " ".join(text.split())
    if not spec:
        raise ScheduleError(text, f"the schedule is empty; write {_FORMS}")
    if spec.startswith("@"):
        return _preset(text, spec)
    if spec.lower().startswith("every"):
        return _every(text, spec, anchor)
    if _ISO.match(spec):
        return _one_shot(text, spec)
    return _cron(text, spec)


def expression_warnings(text: str) -> list[str]:
    """Warnings for a valid cron expression (uneven steps, dom OR dow); [] otherwise."""
    parts = " ".join(text.split()).split()
    try:
        _cron(text, " ".join(parts))
    except ScheduleError:
        return []
    return fields.warnings_for(parts)


def _preset(text: str, spec: str) -> CronExpression:
    fields_text = PRESETS.get(spec.lower())
    if fields_text is None:
        hint = suggest(spec.lower(), PRESETS)
        known = ", ".join(PRESETS)
        raise ScheduleError(text, f'unknown preset "{spec}"{hint}; known presets: {known}')
    return _cron(text, fields_text)


def _every(text: str, spec: str, anchor: datetime | None) -> CronExpression:
    word, _, amount = spec.partition(" ")
    if word.lower() != "every" or not amount:
        raise ScheduleError(text, 'write "every <duration>", e.g. "every 90s" or "every 1h30m"')
    try:
        interval = parse_duration(amount)
    except DurationError as exc:
        raise ScheduleError(text, exc.message) from None
    if interval <= timedelta():
        raise ScheduleError(text, "the interval must be longer than zero")
    return Every(text=text, kind="every", interval=interval, anchor=anchor)


def _one_shot(text: str, spec: str) -> CronExpression:
    try:
        when = datetime.fromisoformat(spec)
    except ValueError:
        raise ScheduleError(
            text, "not a valid ISO-8601 date-time (e.g. 2026-11-10T10:00:00+05:30)"
        ) from None
    return OneShot(text=text, kind="once", when=when)


def _cron(text: str, spec: str) -> CronExpression:
    parts = spec.split()
    if len(parts) not in (5, 6):
        raise ScheduleError(text, f"expected {_FORMS}; got {len(parts)} fields")
    try:
        fields.check_fields(parts)
    except fields.FieldProblem as exc:
        raise ScheduleError(text, str(exc)) from None
    six = " ".join(parts if len(parts) == 6 else ["0", *parts])
    _check_fires(text, six)
    hour_minute = six.split()[1:3]
    fixed = not any(part.startswith("*") for part in hour_minute)
    return CronFields(text=text, fields=six, fixed_time=fixed)


def _check_fires(text: str, six: str) -> None:
    parts = six.upper().split()
    if parts[3].startswith("*") or parts[5].startswith("*"):
        days = {d for d in CronField.DAY.parse(parts[3]) if isinstance(d, int)}
        months = {m for m in CronField.MONTH.parse(parts[4]) if isinstance(m, int)}
        reason = fields.never_fires(days, months)
        if reason:
            raise ScheduleError(text, reason)
    try:
        next(CronSim(six, _PROBE_FROM))
    except CronSimError as exc:
        raise ScheduleError(text, f"not understood by the cron parser ({exc})") from None
    except StopIteration:
        raise ScheduleError(text, "never fires (no matching time in 50 years)") from None
