"""Pure views of loaded definitions for the define verbs: rows in, rows out, no I/O.

Each builder takes what it needs (and ``now`` where time matters) and returns plain,
JSON-ready data; ``cli.define`` prints it as a rich table or as JSON. ``list_rows``
returns dicts so that other verbs can add columns (``row["state"] = ...``) before printing.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from tapri_daemon import zones
from tapri_daemon.errors import NotFoundError, TapriError
from tapri_daemon.graph import TaskGraph
from tapri_daemon.model import Calendar, Workflow
from tapri_daemon.spec.load import Loaded
from tapri_daemon.timing.calendars import WorkingCalendar
from tapri_daemon.timing.schedule import Fire, WorkflowSchedule

SCAN_LIMIT = 10_000
"""Most fires `next` looks at (skipped ones included) before it stops."""

LIST_COLUMNS: tuple[tuple[str, str], ...] = (
    ("workflow", "WORKFLOW"),
    ("schedule", "SCHEDULE"),
    ("timezone", "TIMEZONE"),
    ("next_fire", "NEXT FIRE"),
    ("tags", "TAGS"),
)
"""(row key, header) of `tapri list`'s table; a caller may pass a longer tuple."""


def workflow_of(loaded: Loaded, workflow_id: str) -> Workflow:
    found = loaded.definitions.workflow.get(workflow_id)
    if found is None:
        raise NotFoundError("workflow", workflow_id, loaded.definitions.workflow)
    return found


def calendar_of(loaded: Loaded, name: str) -> Calendar:
    found = loaded.definitions.calendar.get(name)
    if found is None:
        raise NotFoundError("calendar", name, loaded.definitions.calendar)
    return found


def timezone_of(loaded: Loaded, workflow: Workflow) -> str:
    return workflow.timezone or loaded.settings.default_timezone


def schedule_of(loaded: Loaded, workflow: Workflow) -> WorkflowSchedule:
    return WorkflowSchedule.from_workflow(
        workflow,
        default_timezone=loaded.settings.default_timezone,
        calendars=loaded.definitions.calendar,
    )


def list_rows(loaded: Loaded, now: datetime) -> list[dict[str, Any]]:
    """One dict per workflow: workflow, description, schedule, timezone, calendar,
    next_fire (ISO-8601 in the workflow's zone, or None), tags, paused, tasks."""
    return [_list_row(loaded, wid, wf, now) for wid, wf in loaded.definitions.workflow.items()]


def _list_row(
    loaded: Loaded, workflow_id: str, workflow: Workflow, now: datetime
) -> dict[str, Any]:
    return {
        "workflow": workflow_id,
        "description": workflow.description,
        "schedule": list(workflow.schedule),
        "timezone": timezone_of(loaded, workflow),
        "calendar": workflow.calendar,
        "next_fire": _iso(_next_fire(loaded, workflow, now)),
        "tags": list(workflow.tags),
        "paused": workflow.paused,
        "tasks": len(workflow.task),
    }


def _next_fire(loaded: Loaded, workflow: Workflow, now: datetime) -> datetime | None:
    if not workflow.schedule:
        return None
    try:
        return schedule_of(loaded, workflow).next_fire(now)
    except TapriError:
        return None


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


@dataclass(frozen=True, kw_only=True)
class NextQuery:
    count: int
    after: datetime
    explain: bool


def start_of_query(given: datetime | None, timezone: str, now: datetime) -> datetime:
    """--from (without an offset it is the workflow's local time), else now."""
    if given is None:
        return now
    return given if given.tzinfo else given.replace(tzinfo=zones.zone(timezone))


def next_rows(schedule: WorkflowSchedule, query: NextQuery, timezone: str) -> list[dict[str, Any]]:
    """The next ``count`` fires; with ``explain`` also the skipped ones in between.

    Each row: ``at`` (ISO-8601 with the zone's offset); ``skipped: true`` or ``moved_from``
    with ``reason`` when a calendar changed the fire (``reason`` alone: a DST note).
    """
    rows: list[dict[str, Any]] = []
    fired = 0
    for fire in _limited(schedule.fires(query.after)):
        if fire.skipped and not query.explain:
            continue
        rows.append(_fire_row(fire, timezone))
        fired += 0 if fire.skipped else 1
        if fired >= query.count:
            break
    return rows


def _limited(fires: Iterator[Fire]) -> Iterator[Fire]:
    for n, fire in enumerate(fires):
        if n >= SCAN_LIMIT:
            return
        yield fire


def _fire_row(fire: Fire, timezone: str) -> dict[str, Any]:
    """A skipped fire's ``at`` is the instant it would have fired (its nominal one)."""
    zone = zones.zone(timezone)
    row: dict[str, Any] = {"at": (fire.at or fire.nominal).astimezone(zone).isoformat()}
    if fire.skipped:
        row["skipped"] = True
    if fire.moved_from is not None:
        row["moved_from"] = fire.moved_from.astimezone(zone).isoformat()
    if fire.reason:
        row["reason"] = fire.reason
    return row


def calendar_data(name: str, calendar: Calendar, year: int) -> dict[str, Any]:
    """Holidays (date, weekday, name) and extra workdays of one calendar in one year."""
    working = WorkingCalendar.from_model(calendar)
    holidays = sorted(working.holidays(year).items())
    return {
        "calendar": name,
        "year": year,
        "country": calendar.country,
        "subdiv": calendar.subdiv,
        "market": calendar.market,
        "weekend": list(calendar.weekend),
        "holidays": [_day(day) | {"name": label} for day, label in holidays],
        "extra_workdays": [
            _day(day) for day in sorted(calendar.extra_workdays) if day.year == year
        ],
    }


def _day(day: date) -> dict[str, Any]:
    return {"date": day.isoformat(), "weekday": day.strftime("%a").lower()}


def graph_levels(graph: TaskGraph) -> list[list[str]]:
    """Tasks grouped by depth: level 0 has no upstream, level n waits for level n-1."""
    depth: dict[str, int] = {}
    for task in graph.order:
        depth[task] = 1 + max((depth[up] for up in graph.upstream[task]), default=-1)
    levels: list[list[str]] = [[] for _ in range(max(depth.values(), default=-1) + 1)]
    for task in graph.order:
        levels[depth[task]].append(task)
    return levels


@dataclass(frozen=True, kw_only=True)
class History:
    """What the store knows about each workflow, for `tapri list`'s LAST/PASSED/STATE."""

    last_fire: Mapping[str, datetime] = field(default_factory=dict)
    last_state: Mapping[str, str] = field(default_factory=dict)
    running: Mapping[str, int] = field(default_factory=dict)
    paused: frozenset[str] = frozenset()


TIMER_COLUMNS: tuple[tuple[str, str], ...] = (
    ("next_cell", "NEXT"),
    ("left", "LEFT"),
    ("last_cell", "LAST"),
    ("passed", "PASSED"),
    ("workflow", "WORKFLOW"),
    ("schedule", "SCHEDULE"),
    ("state", "STATE"),
)
"""`tapri list` like `systemctl list-timers`: when next, how long left, when last, how long ago."""


def with_history(
    rows: list[dict[str, Any]], history: History, now: datetime
) -> list[dict[str, Any]]:
    """Add last_fire, state, running, left_s and passed_s to `list_rows` rows."""
    return [_with_history(row, history, now) for row in rows]


def _with_history(row: dict[str, Any], history: History, now: datetime) -> dict[str, Any]:
    name = row["workflow"]
    last = history.last_fire.get(name)
    nxt = datetime.fromisoformat(row["next_fire"]) if row["next_fire"] else None
    paused = row["paused"] or name in history.paused
    return row | {
        "paused": paused,
        "last_fire": last.astimezone(zones.zone(row["timezone"])).isoformat() if last else None,
        "left_s": (nxt - now).total_seconds() if nxt else None,
        "passed_s": (now - last).total_seconds() if last else None,
        "running": history.running.get(name, 0),
        "state": _state(name, paused, history),
    }


def _state(name: str, paused: bool, history: History) -> str:
    if paused:
        return "paused"
    if history.running.get(name):
        return f"running ({history.running[name]})"
    return history.last_state.get(name, "never ran")


def span(seconds: float | None) -> str:
    """A duration the way systemctl list-timers shows it: "1d 2h", "4min 10s", "42s"."""
    if seconds is None:
        return "-"
    left = int(abs(seconds))
    parts = [(left // 86400, "d"), (left % 86400 // 3600, "h"), (left % 3600 // 60, "min"),
             (left % 60, "s")]  # fmt: skip
    shown = [f"{n}{unit}" for n, unit in parts if n][:2]
    return " ".join(shown) or "0s"
