"""Rich tables: the runs list and one run's tasks, plus the small formatters they share."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, tzinfo

from rich import box
from rich.table import Table
from rich.text import Text

from tapri_daemon.interfaces import JSON, RunRecord, TaskRecord
from tapri_daemon.views.styles import state_style

_OUTPUT_WIDTH = 40


def local(instant: datetime | None, tz: tzinfo, *, date: bool = True) -> str:
    """A time in ``tz``: "2025-03-10 10:00:00" (or just the clock time)."""
    if instant is None:
        return "-"
    shown = instant.astimezone(tz)
    return shown.strftime("%Y-%m-%d %H:%M:%S" if date else "%H:%M:%S")


def human_seconds(seconds: float) -> str:
    """0.0042 -> "4ms", 2.1 -> "2.10s", 185 -> "3m05s", 7300 -> "2h01m"."""
    if seconds < 0.9995:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 60:
        return f"{seconds:.2f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def span(start: datetime | None, end: datetime | None) -> str:
    if start is None or end is None:
        return "-"
    return human_seconds((end - start).total_seconds())


def brief(value: JSON, width: int = _OUTPUT_WIDTH) -> str:
    """A JSON value on one line, cut to ``width``."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def styled(state: str) -> Text:
    return Text(state, style=state_style(state))


def runs_table(runs: Sequence[RunRecord], tz: tzinfo, *, workflow: bool = True) -> Table:
    """Runs, one a row; ``workflow=False`` leaves out the workflow (a filtered list)."""
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    names = ["run", "workflow", "state", "trigger", "logical date", "took"]
    if not workflow:
        names.remove("workflow")
    for name in names:
        table.add_column(name, no_wrap=True, min_width=len(name))
    for run in runs:
        cells: list[str | Text] = [run.run_id, run.workflow] if workflow else [run.run_id]
        cells += [
            styled(str(run.state)),
            str(run.trigger),
            local(run.logical_date, tz),
            span(run.started_at, run.ended_at),
        ]
        table.add_row(*cells)
    return table


def tasks_table(tasks: Sequence[TaskRecord], tz: tzinfo) -> Table:
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    for name in ("task", "state", "tries", "started", "took"):
        table.add_column(name, no_wrap=True)
    table.add_column("output / reason", overflow="ellipsis", no_wrap=True)
    for task in tasks:
        detail = task.reason if task.reason else brief(task.output) if task.output else ""
        table.add_row(
            task.task_id,
            styled(str(task.state)),
            str(task.attempts),
            local(task.started_at, tz, date=False),
            span(task.started_at, task.ended_at),
            detail,
        )
    return table
