"""When a deadline falls: a duration after the logical date, or a wall time that day."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from tapri_daemon import durations


def deadline_instant(deadline: timedelta | time, logical: datetime, zone: ZoneInfo) -> datetime:
    """The instant (UTC) a run with logical date ``logical`` must be done by.

    A ``time`` is the wall time on the logical date's local day in ``zone``; a time in a
    spring-forward gap is read as if the clock had not jumped (zoneinfo's fold=0).
    """
    if isinstance(deadline, timedelta):
        return logical + deadline
    local_day = logical.astimezone(zone).date()
    return datetime.combine(local_day, deadline, tzinfo=zone).astimezone(UTC)


def describe(deadline: timedelta | time) -> str:
    if isinstance(deadline, timedelta):
        return f"{durations.format_duration(deadline)} after the logical date"
    return deadline.isoformat()
