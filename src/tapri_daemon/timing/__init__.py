"""Pure time math: schedule expressions, working-day calendars and a workflow's fire times.

Nothing in this package reads a clock: every question takes the instant to count from.

- ``cron``: ``compile_expression`` -> ``CronExpression`` (cron, presets, every, one-shot)
- ``calendars``: ``WorkingCalendar`` and ``calendar_problems``
- ``schedule``: ``WorkflowSchedule`` and ``Fire``
- ``dst`` and ``fields``: the DST policy and the cron field checks they share
"""

from __future__ import annotations

from tapri_daemon.timing.calendars import WorkingCalendar, calendar_problems
from tapri_daemon.timing.cron import CronExpression, compile_expression, expression_warnings
from tapri_daemon.timing.schedule import Fire, WorkflowSchedule

__all__ = [
    "CronExpression",
    "Fire",
    "WorkflowSchedule",
    "WorkingCalendar",
    "calendar_problems",
    "compile_expression",
    "expression_warnings",
]
