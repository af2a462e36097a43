"""What a run needs from the workflow's time: its data interval and its working days."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime

from tapri_daemon.engine.templates import weekdays
from tapri_daemon.model import Definitions, Workflow
from tapri_daemon.timing.calendars import WorkingCalendar
from tapri_daemon.timing.schedule import WorkflowSchedule


def schedule_of(
    definitions: Definitions, workflow: Workflow, default_timezone: str
) -> WorkflowSchedule | None:
    """The compiled schedule of a workflow, or None for a manual-only one."""
    if not workflow.schedule:
        return None
    return WorkflowSchedule.from_workflow(
        workflow, default_timezone=default_timezone, calendars=definitions.calendar
    )


def data_interval(
    schedule: WorkflowSchedule | None, logical: datetime
) -> tuple[datetime, datetime]:
    """[previous scheduled fire, logical date] for a scheduled workflow, else [logical, logical].

    The first run of a schedule has no previous fire: its interval is [logical, logical].
    """
    if schedule is None:
        return logical, logical
    previous = schedule.previous_fire(logical)
    return (previous if previous is not None else logical), logical


def working_day_test(definitions: Definitions, workflow: Workflow) -> Callable[[date], bool]:
    """Whether a day is a working day in the workflow's calendar (Mon-Fri without one)."""
    if workflow.calendar is None or workflow.calendar not in definitions.calendar:
        return weekdays
    return WorkingCalendar.from_model(definitions.calendar[workflow.calendar]).is_working_day
