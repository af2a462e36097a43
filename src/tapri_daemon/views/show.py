"""`tapri show RUN_ID` as text: a header, the task table and the timeline."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, tzinfo

from rich.console import Group
from rich.text import Text

from tapri_daemon.interfaces import AttemptRecord, RunRecord, TaskRecord
from tapri_daemon.views.gantt import gantt
from tapri_daemon.views.tables import local, span, styled, tasks_table


def header(run: RunRecord, tz: tzinfo) -> Group:
    title = Text(f"run {run.run_id}", style="bold")
    facts = Text(f"workflow {run.workflow} · state ")
    facts.append_text(styled(str(run.state)))
    facts.append(f" · trigger {run.trigger}")
    times = Text(
        f"logical {local(run.logical_date, tz)} · started {local(run.started_at, tz)} "
        f"· took {span(run.started_at, run.ended_at)}"
    )
    lines = [title, facts, times]
    if run.reason:
        lines.append(Text(f"reason: {run.reason}"))
    return Group(*lines)


def show_run(
    run: RunRecord,
    tasks: Sequence[TaskRecord],
    attempts: Sequence[AttemptRecord],
    *,
    now: datetime,
    tz: tzinfo,
    width: int = 100,
) -> Group:
    return Group(
        header(run, tz),
        tasks_table(tasks, tz),
        Text.assemble(("timeline", "bold"), f" (times in {tz})"),
        gantt(run, attempts, now=now, tz=tz, width=width),
    )
