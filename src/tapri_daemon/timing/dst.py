"""Wall-clock times to instants under tapri's DST policy; nothing here reads a clock.

A wall time in a zone is one of three things:
- ordinary: it happened once, and that is the instant;
- in a spring-forward gap (02:30 in Europe/Berlin on 2027-03-28): it never happened, and the
  policy picks the end of the gap (03:00, the first wall time that exists after it);
- in a fall-back overlap (02:30 in Europe/Berlin on 2027-10-31): it happened twice, and the
  policy picks the first occurrence (fold=0, the summer-time offset).

Only ``ZoneInfo`` arithmetic is used, so the answers never depend on the process ``TZ``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

_MINUTE = timedelta(minutes=1)
_LONGEST_GAP_MINUTES = 24 * 60


def exists(wall: datetime, tz: ZoneInfo) -> bool:
    """True when the naive wall time really happened in the zone (it is not in a gap)."""
    aware = wall.replace(tzinfo=tz, fold=0)
    return aware.astimezone(UTC).astimezone(tz).replace(tzinfo=None) == wall


def is_ambiguous(wall: datetime, tz: ZoneInfo) -> bool:
    """True when the naive wall time happened twice (a fall-back overlap)."""
    if not exists(wall, tz):
        return False
    first = wall.replace(tzinfo=tz, fold=0)
    return first.utcoffset() != wall.replace(tzinfo=tz, fold=1).utcoffset()


def instants(wall: datetime, tz: ZoneInfo) -> tuple[datetime, ...]:
    """Every real instant showing this naive wall time: none (gap), one, or two (overlap)."""
    first = wall.replace(tzinfo=tz, fold=0)
    second = wall.replace(tzinfo=tz, fold=1)
    if first.utcoffset() == second.utcoffset():
        return (first,)
    if not exists(wall, tz):
        return ()
    return (first, second)


class WallMapper:
    """``instants`` for walls that mostly move forward: an hour without a transition is
    checked once, then its walls map with a single ``replace``."""

    def __init__(self, tz: ZoneInfo) -> None:
        self.tz = tz
        self._hour: datetime | None = None

    def instants(self, wall: datetime) -> tuple[datetime, ...]:
        hour = wall.replace(minute=0, second=0, microsecond=0)
        if hour == self._hour:
            return (wall.replace(tzinfo=self.tz),)
        found = instants(wall, self.tz)
        self._hour = hour if _plain_hour(hour, self.tz) else None
        return found


def _plain_hour(hour: datetime, tz: ZoneInfo) -> bool:
    """No gap or overlap touches this wall hour (so one offset holds all through it)."""
    last = hour + timedelta(hours=1) - timedelta(microseconds=1)
    ends = (instants(hour, tz), instants(last, tz))
    single = all(len(found) == 1 for found in ends)
    return single and ends[0][0].utcoffset() == ends[1][0].utcoffset()


def overlap_size(wall: datetime, tz: ZoneInfo) -> timedelta:
    """How long the overlap holding this wall time lasts (zero outside overlaps)."""
    if not is_ambiguous(wall, tz):
        return timedelta()
    first = wall.replace(tzinfo=tz, fold=0).utcoffset() or timedelta()
    return first - (wall.replace(tzinfo=tz, fold=1).utcoffset() or timedelta())


def gap_end(wall: datetime, tz: ZoneInfo) -> datetime:
    """The first existing wall time after a gap wall time, as an aware datetime.

    Transitions happen on whole minutes in every zone since 1970, so stepping by minute
    lands exactly on the end of the gap.
    """
    probe = wall.replace(second=0, microsecond=0)
    for _ in range(_LONGEST_GAP_MINUTES):
        probe += _MINUTE
        if exists(probe, tz):
            return probe.replace(tzinfo=tz, fold=0)
    return wall.replace(tzinfo=tz, fold=0).astimezone(tz)


def resolve(wall: datetime, tz: ZoneInfo) -> datetime:
    """The instant a fixed-time job meant for this wall time fires at (see the module doc)."""
    naive = wall.replace(tzinfo=None)
    if not exists(naive, tz):
        return gap_end(naive, tz)
    return naive.replace(tzinfo=tz, fold=0)


def resolve_with_note(wall: datetime, tz: ZoneInfo) -> tuple[datetime, str | None]:
    """Like resolve(), plus a human note when DST changed the answer."""
    naive = wall.replace(tzinfo=None)
    if not exists(naive, tz):
        end = gap_end(naive, tz)
        return end, f"DST gap: {clock(naive)} does not exist, fires at {clock(end)}"
    first = naive.replace(tzinfo=tz, fold=0)
    if is_ambiguous(naive, tz):
        twice = f"DST overlap: {clock(naive)} happens twice"
        return first, f"{twice}, fires once at the first ({offset(first)})"
    return first, None


def start_of_day(day: date, tz: ZoneInfo) -> datetime:
    """The first instant of a local day (midnight, or the end of a gap at midnight)."""
    return resolve(datetime.combine(day, time()), tz)


def local(instant: datetime, tz: ZoneInfo) -> datetime:
    """An aware instant seen in the zone; refuses naive datetimes (pass instants, not walls)."""
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"{instant.isoformat()} is naive: pass an aware datetime")
    return instant.astimezone(tz)


def utc(instant: datetime) -> datetime:
    """The instant in UTC. Compare and subtract these: Python compares two datetimes that
    share a tzinfo by wall time alone, so 01:30 (second pass) < 01:45 (first pass)."""
    if instant.tzinfo is None:
        raise ValueError(f"{instant.isoformat()} is naive: pass an aware datetime")
    return instant.astimezone(UTC)


def clock(value: datetime) -> str:
    """HH:MM, or HH:MM:SS when the seconds matter."""
    return value.strftime("%H:%M:%S" if value.second or value.microsecond else "%H:%M")


def offset(value: datetime) -> str:
    """The UTC offset as +HH:MM."""
    delta = value.utcoffset() or timedelta()
    sign = "-" if delta < timedelta() else "+"
    minutes = abs(delta) // _MINUTE
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"
