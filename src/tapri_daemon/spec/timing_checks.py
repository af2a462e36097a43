"""Schedule and calendar checks, delegated to ``tapri_daemon.timing``.

Each schedule expression is checked on its own (a copy of the workflow with just that
expression), so two bad expressions in one list are both reported, each at its index.
"""

from __future__ import annotations

from collections.abc import Mapping

from tapri_daemon.errors import DefinitionError
from tapri_daemon.model import Calendar, Workflow
from tapri_daemon.spec.findings import Found
from tapri_daemon.timing.calendars import calendar_problems
from tapri_daemon.timing.cron import expression_warnings
from tapri_daemon.timing.schedule import WorkflowSchedule


def schedule_findings(
    workflow: Workflow, *, default_timezone: str, calendars: Mapping[str, Calendar]
) -> Found:
    found: Found = []
    for i, expression in enumerate(workflow.schedule):
        single = workflow.model_copy(update={"schedule": (expression,)})
        try:
            WorkflowSchedule.from_workflow(
                single, default_timezone=default_timezone, calendars=calendars
            )
        except DefinitionError as exc:
            found.append((("schedule", i), exc.message, "error"))
            continue
        found += [(("schedule", i), text, "warning") for text in expression_warnings(expression)]
    return found


def calendar_findings(calendar: Calendar) -> Found:
    return [(tuple(key), message, "error") for key, message in calendar_problems(calendar)]
