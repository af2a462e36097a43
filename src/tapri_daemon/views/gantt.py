"""A run's attempts on a time axis, drawn with rich: one bar per attempt.

    10:00:00.000               10:00:02.000               10:00:04.000
    ├──────────────────────────┼──────────────────────────┤
    fetch #1    ████████       ┊                           success 1.00s
    fetch #2                   ┊█████████                  success 1.10s
                               ▲ fire 10:00:02.000000

Bars are coloured by outcome and drawn with a glyph per outcome (readable without
colour); a retry is a second row of the same task; the precise fire instant is a dotted
column with a marker under it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

from rich.console import Group
from rich.text import Text

from tapri_daemon.interfaces import AttemptRecord, Outcome, RunRecord
from tapri_daemon.views.styles import OUTCOME_GLYPH, OUTCOME_STYLE, outcome_key
from tapri_daemon.views.tables import human_seconds

NOTE_WIDTH = 28
LABEL_LIMIT = 28
FIRE_STYLE = "bold yellow"


@dataclass(frozen=True, kw_only=True)
class Bar:
    task_id: str
    attempt: int
    start: datetime
    end: datetime
    outcome: str
    detail: str
    """The outcome with its exit code / lateness, e.g. "failed exit 1"."""

    @property
    def label(self) -> str:
        return f"{self.task_id} #{self.attempt}"

    @property
    def note(self) -> str:
        return f"{self.detail} {human_seconds((self.end - self.start).total_seconds())}"


@dataclass(frozen=True, kw_only=True)
class Axis:
    start: datetime
    end: datetime
    cells: int

    def column(self, instant: datetime) -> int:
        total = (self.end - self.start).total_seconds() or 1e-6
        offset = (instant - self.start).total_seconds()
        return max(0, min(self.cells - 1, round(offset / total * (self.cells - 1))))


def fire_instant(run: RunRecord, attempts: Sequence[AttemptRecord]) -> datetime | None:
    """The precise fire target if an attempt had one, else the schedule instant."""
    for attempt in attempts:
        if attempt.fire_target_ns is not None:
            return datetime.fromtimestamp(attempt.fire_target_ns / 1e9, UTC)
    return run.scheduled_for


def _detail(attempt: AttemptRecord) -> str:
    parts = [outcome_key(attempt.outcome)]
    if attempt.outcome in (Outcome.FAILED, Outcome.TIMEOUT) and attempt.exit_code is not None:
        parts.append(f"exit {attempt.exit_code}")
    if attempt.lateness_us is not None:
        parts.append(f"+{attempt.lateness_us:.0f}µs")
    return " ".join(parts)


def bars(attempts: Sequence[AttemptRecord], now: datetime) -> list[Bar]:
    """One bar per attempt, in start order; a running attempt ends at ``now``."""
    ordered = sorted(attempts, key=lambda a: (a.started_at, a.task_id, a.attempt))
    return [
        Bar(
            task_id=a.task_id,
            attempt=a.attempt,
            start=a.started_at,
            end=a.ended_at or max(now, a.started_at),
            outcome=outcome_key(a.outcome),
            detail=_detail(a),
        )
        for a in ordered
    ]


def _clock(instant: datetime, tz: tzinfo, fine: bool) -> str:
    shown = instant.astimezone(tz)
    return shown.strftime("%H:%M:%S.%f")[:-3] if fine else shown.strftime("%H:%M:%S")


def _axis_rows(axis: Axis, indent: int, tz: tzinfo) -> list[Text]:
    fine = axis.end - axis.start < timedelta(minutes=2)
    middle = axis.start + (axis.end - axis.start) / 2
    left, centre, right = (_clock(t, tz, fine) for t in (axis.start, middle, axis.end))
    labels = [" "] * axis.cells
    for text, at in ((left, 0), (centre, axis.cells // 2 - len(centre) // 2)):
        labels[at : at + len(text)] = text
    labels[axis.cells - len(right) :] = right
    rule = ["─"] * axis.cells
    rule[0], rule[axis.cells // 2], rule[-1] = "├", "┼", "┤"
    pad = " " * indent
    return [Text(pad + "".join(labels)), Text(pad + "".join(rule), style="dim")]


def _blank(start: int, stop: int, fire_col: int | None) -> Text:
    """Empty cells start..stop-1, with the fire column dotted if it falls among them."""
    if fire_col is None or not start <= fire_col < stop:
        return Text(" " * (stop - start))
    text = Text(" " * (fire_col - start))
    text.append("┊", style=FIRE_STYLE)
    text.append(" " * (stop - fire_col - 1))
    return text


def _bar_row(bar: Bar, axis: Axis, width: int, fire_col: int | None) -> Text:
    first, last = axis.column(bar.start), axis.column(bar.end)
    row = Text(bar.label[:width].ljust(width) + " ", no_wrap=True, overflow="ellipsis")
    row.append_text(_blank(0, first, fire_col))
    row.append(OUTCOME_GLYPH[bar.outcome] * (last - first + 1), style=OUTCOME_STYLE[bar.outcome])
    row.append_text(_blank(last + 1, axis.cells, fire_col))
    row.append(" " + bar.note)
    return row


def gantt(
    run: RunRecord,
    attempts: Sequence[AttemptRecord],
    *,
    now: datetime,
    tz: tzinfo,
    width: int = 100,
) -> Group:
    """The timeline of ``run`` as rich renderables sized for ``width`` columns."""
    rows = bars(attempts, now)
    if not rows:
        return Group(Text("no attempts yet", style="dim"))
    fire = fire_instant(run, attempts)
    instants = [b.start for b in rows] + [b.end for b in rows] + ([fire] if fire else [])
    label_width = min(LABEL_LIMIT, max(len(b.label) for b in rows))
    cells = max(20, width - label_width - 1 - NOTE_WIDTH - 1)
    axis = Axis(start=min(instants), end=max(instants), cells=cells)
    fire_col = None if fire is None else axis.column(fire)
    lines = _axis_rows(axis, label_width + 1, tz)
    lines += [_bar_row(bar, axis, label_width, fire_col) for bar in rows]
    if fire is not None and fire_col is not None:
        marker = f"▲ fire {fire.astimezone(tz).strftime('%H:%M:%S.%f')}"
        lines.append(Text(" " * (label_width + 1 + fire_col) + marker, style=FIRE_STYLE))
    lines.append(legend())
    return Group(*lines)


def legend() -> Text:
    text = Text()
    for key, glyph in OUTCOME_GLYPH.items():
        text.append(glyph, style=OUTCOME_STYLE[key])
        text.append(f" {key}  ")
    text.append("┊", style=FIRE_STYLE)
    text.append(" fire")
    return text
