"""Schedule and calendar checks, delegated to ``tapri_daemon.timing``.

Each schedule expression is checked on its own (a copy of the workflow with just that
expression), so two bad expressions in one list are both reported, each at its index.
The start/end bounds are checked once, with no expression. A calendar that is unknown or
broken is left out of these copies: the reference and calendar checks report it already.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tapri_daemon.errors import DefinitionError
from tapri_daemon.model import Calendar, Workflow
from tapri_daemon.spec.findings import Found
from tapri_daemon.spec.locate import KeyPath
from tapri_daemon.timing.calendars import calendar_problems
from tapri_daemon.timing.cron import expression_warnings
from tapri_daemon.timing.schedule import WorkflowSchedule


def schedule_findings(
    workflow: Workflow, *, default_timezone: str, calendars: Mapping[str, Calendar]
) -> Found:
    calendar = workflow.calendar
    if calendar is not None and (
        calendar not in calendars or calendar_problems(calendars[calendar])
    ):
        calendar = None
    base = workflow.model_copy(update={"calendar": calendar, "schedule": ()})

    def problem(key: KeyPath, update: dict[str, Any]) -> Found:
        try:
            WorkflowSchedule.from_workflow(
                base.model_copy(update=update),
                default_timezone=default_timezone,
                calendars=calendars,
            )
        except DefinitionError as exc:
            return [(key, exc.message, "error")]
        return []

    found = problem(("end_date",), {}) if workflow.start_date or workflow.end_date else []
    for i, expression in enumerate(workflow.schedule):
        bad = problem(("schedule", i), {"schedule": (expression,)})
        warnings: Found = [
            (("schedule", i), text, "warning") for text in expression_warnings(expression)
        ]
        found += bad or warnings
    return found


def calendar_findings(calendar: Calendar) -> Found:
    return [(tuple(key), message, "error") for key, message in calendar_problems(calendar)]
