"""A run's timeline as a Mermaid ``gantt`` (paste it into Markdown that renders Mermaid).

    gantt
        title wf run wf__20250310T043000Z_3fa2c1 (success)
        dateFormat YYYY-MM-DD HH:mm:ss.SSS
        axisFormat %H:%M:%S
        todayMarker off
        section fetch
        attempt 1 failed exit 1 : crit, done, fetch_1, 2025-03-10 10:00:00.000, 2025-03-10 ...
        attempt 2 success : done, fetch_2, 2025-03-10 10:00:01.500, 2025-03-10 10:00:02.600

One section per task (in the order tasks first started), one line per attempt; the status
tag follows the outcome (done, crit for failures, active while running); the precise fire
instant is a milestone. Times are shown in ``tz``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, timedelta, tzinfo

from tapri_daemon.interfaces import AttemptRecord, Outcome, RunRecord
from tapri_daemon.views.gantt import Bar, bars, fire_instant

DATE_FORMAT = "YYYY-MM-DD HH:mm:ss.SSS"
_UNSAFE = re.compile(r"[:;#\n\r]")
_STATUS = {
    str(Outcome.SUCCESS): "done",
    str(Outcome.FAILED): "crit, done",
    str(Outcome.TIMEOUT): "crit, done",
    str(Outcome.LOST): "crit, done",
    str(Outcome.CANCELLED): "done",
    "running": "active",
}


def _safe(text: str) -> str:
    """Task names and titles end at ':' and ';'; '#' starts an entity."""
    return _UNSAFE.sub(" ", text).strip()


def _when(instant: datetime, tz: tzinfo) -> str:
    return instant.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def _line(bar: Bar, tz: tzinfo) -> str:
    name = _safe(f"attempt {bar.attempt} {bar.detail}")
    ident = re.sub(r"\W", "_", f"{bar.task_id}_{bar.attempt}")
    return (
        f"    {name} : {_STATUS[bar.outcome]}, {ident}, "
        f"{_when(bar.start, tz)}, {_when(bar.end, tz)}"
    )


def _axis_format(rows: Sequence[Bar]) -> str:
    spread = max(b.end for b in rows) - min(b.start for b in rows)
    return "%H:%M:%S.%L" if spread < timedelta(seconds=10) else "%H:%M:%S"


def mermaid_gantt(
    run: RunRecord, attempts: Sequence[AttemptRecord], *, now: datetime, tz: tzinfo
) -> str:
    rows = bars(attempts, now)
    lines = [
        "gantt",
        f"    title {_safe(run.workflow)} run {_safe(run.run_id)} ({run.state})",
        f"    dateFormat {DATE_FORMAT}",
        f"    axisFormat {_axis_format(rows) if rows else '%H:%M:%S'}",
        "    todayMarker off",
        f"    %% times in {_safe(str(tz))}",
    ]
    fire = fire_instant(run, attempts)
    if fire is not None:
        at = _when(fire, tz)
        lines += ["    section schedule", f"    fire : milestone, fire, {at}, {at}"]
    sections: dict[str, list[Bar]] = {}
    for bar in rows:
        sections.setdefault(bar.task_id, []).append(bar)
    for task, task_bars in sections.items():
        lines.append(f"    section {_safe(task)}")
        lines += [_line(bar, tz) for bar in task_bars]
    return "\n".join(lines) + "\n"
