"""What a message template sees: an Event turned into plain, display-ready variables.

Pure: the zone is passed in, nothing is read from the clock or the disk. The variables are
documented in docs/notifications.md; ``details`` keeps the event's raw details for
templates that want more.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, tzinfo
from typing import Any

from tapri_daemon.durations import format_duration
from tapri_daemon.interfaces import Event

TAIL_LINES = 20
TAIL_CHARS = 2000


def tail(text: str, *, lines: int = TAIL_LINES, chars: int = TAIL_CHARS) -> str:
    """The last ``lines`` lines of ``text``, at most ``chars`` characters, trimmed."""
    kept = "\n".join(text.rstrip().splitlines()[-lines:])
    return kept if len(kept) <= chars else "…" + kept[-(chars - 1) :]


def human_seconds(seconds: float) -> str:
    """A short duration for people: "850µs", "12.5ms", "3.2s", "1m30s"."""
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f}µs"
    if seconds < 1:
        return f"{seconds * 1e3:.1f}ms"
    if seconds < 60:
        return f"{seconds:.1f}".removesuffix(".0") + "s"
    return format_duration(timedelta(seconds=round(seconds)))


def _number(details: Mapping[str, Any], key: str) -> float | None:
    value = details.get(key)
    return float(value) if isinstance(value, int | float) else None


def _failed_names(raw: object) -> list[str]:
    if not isinstance(raw, Sequence) or isinstance(raw, str):
        return []
    names = [item if isinstance(item, str) else _task_of(item) for item in raw]
    return [name for name in names if name]


def _task_of(item: object) -> str:
    if isinstance(item, Mapping):
        return str(item.get("task_id") or item.get("task") or "")
    return ""


def _tails(details: Mapping[str, Any], names: list[str]) -> dict[str, str]:
    raw = details.get("log_tail")
    if isinstance(raw, Mapping):
        return {str(k): str(v) for k, v in raw.items() if v}
    if isinstance(raw, str) and raw and len(names) == 1:
        return {names[0]: raw}
    nested = details.get("failed_tasks")
    if isinstance(nested, Sequence) and not isinstance(nested, str):
        return {_task_of(i): str(i["log_tail"]) for i in nested if _has_tail(i)}
    return {}


def _has_tail(item: object) -> bool:
    return isinstance(item, Mapping) and bool(item.get("log_tail")) and bool(_task_of(item))


def failures(event: Event) -> list[dict[str, str | None]]:
    """The failed tasks with the tail of their logs and the command that shows the whole log."""
    names = _failed_names(event.details.get("failed_tasks"))
    tails = _tails(event.details, names)
    return [
        {
            "task": name,
            "log_tail": tail(tails[name]) if name in tails else None,
            "logs_command": f"tapri logs {event.run_id} {name}" if event.run_id else None,
        }
        for name in names
    ]


def commands(event: Event, failed: list[dict[str, str | None]]) -> list[str]:
    """`tapri show RUN` and `tapri logs RUN TASK` for the run and its tasks of interest."""
    if not event.run_id:
        return []
    tasks = [f["task"] for f in failed if f["task"]] or ([event.task_id] if event.task_id else [])
    return [f"tapri show {event.run_id}"] + [f"tapri logs {event.run_id} {t}" for t in tasks]


def _seconds_text(details: Mapping[str, Any], key: str) -> str | None:
    value = _number(details, key)
    return human_seconds(value) if value is not None else None


def _lateness(details: Mapping[str, Any]) -> str | None:
    micros = _number(details, "lateness_us")
    return human_seconds(micros / 1e6) if micros is not None else None


def _timing(event: Event, zone: tzinfo) -> dict[str, Any]:
    local = event.at.astimezone(zone)
    return {
        "time": local.strftime("%H:%M:%S %Z"),
        "date": local.strftime("%Y-%m-%d"),
        "at": local.isoformat(timespec="seconds"),
        "timezone": str(getattr(zone, "key", None) or local.tzname()),
    }


def _deadline(details: Mapping[str, Any], zone: tzinfo) -> str | None:
    """An ISO instant shown as the zone's clock time ("10:00:05 IST"); other text as is."""
    value = details.get("deadline")
    if not isinstance(value, str):
        return None
    try:
        instant = datetime.fromisoformat(value)
    except ValueError:
        return value
    if instant.tzinfo is None:
        return value
    return instant.astimezone(zone).strftime("%H:%M:%S %Z")


def _from_details(details: Mapping[str, Any], zone: tzinfo) -> dict[str, Any]:
    return {
        "missed_count": details.get("missed_count"),
        "lateness": _lateness(details),
        "duration": _seconds_text(details, "duration_s"),
        "retry_in": _seconds_text(details, "delay_s") or _seconds_text(details, "retry_delay_s"),
        "deadline": _deadline(details, zone),
        "details": dict(details),
    }


def build(
    event: Event,
    *,
    zone: tzinfo,
    notifier: str,
    language: str,
    folded: int = 0,
    window: timedelta | None = None,
) -> dict[str, Any]:
    """Every variable a message template may use."""
    failed = failures(event)
    return {
        "kind": str(event.kind),
        "workflow": event.workflow,
        "run_id": event.run_id,
        "task_id": event.task_id,
        "attempt": event.attempt,
        "reason": event.reason,
        **_timing(event, zone),
        **_from_details(event.details, zone),
        "failures": failed,
        "failed_tasks": [f["task"] for f in failed],
        "commands": commands(event, failed),
        "show_command": f"tapri show {event.run_id}" if event.run_id else None,
        "logs_command": (
            f"tapri logs {event.run_id} {event.task_id}" if event.run_id and event.task_id else None
        ),
        "folded": folded,
        "window": format_duration(window) if window else None,
        "notifier": notifier,
        "language": language,
    }
