"""Hover text for model fields that have no pydantic description (key: "Model.field").

``spec.schema`` uses a field's own description first; these fill the gaps so that every
key shows help in an editor.
"""

from __future__ import annotations

FIELD_DOCS: dict[str, str] = {
    "Definitions.defaults": "Task defaults for every workflow (Airflow's default_args).",
    "Definitions.calendar": "Working-day calendars, by name: [calendar.NAME].",
    "Definitions.pool": "Slot pools limiting concurrent tasks, by name: [pool.NAME].",
    "Definitions.notifier": "Alert destinations (apprise URLs), by name: [notifier.NAME].",
    "Definitions.database": "Databases for sql tasks, by name: [database.NAME].",
    "Definitions.workflow": "Workflows, by id: [workflow.ID] and [workflow.ID.task.ID].",
    "Workflow.description": "What the workflow does (shown by `tapri list`).",
    "Workflow.calendar": "A [calendar.NAME]; fires on non-working days follow on_holiday.",
    "Workflow.on_holiday": "A fire on a non-working day: skip it, or move it to the "
    "next/previous working day at the same local time.",
    "Workflow.catchup": "Missed fires after downtime: none, latest (one run), all "
    "(true = all, false = none).",
    "Workflow.start_date": "No fire before this (a date or date-time in the workflow's zone); "
    "also the anchor of `every` schedules.",
    "Workflow.end_date": "No fire after this.",
    "Workflow.max_active_runs": "Runs of this workflow at the same time.",
    "Workflow.overlap": "When max_active_runs is reached: queue the new run or skip it.",
    "Workflow.max_active_tasks": "Tasks of one run at the same time (default: no limit).",
    "Workflow.deadline": "Alert (or cancel) when a run is not finished by then: a duration "
    'after the fire ("5m") or a local time ("15:55").',
    "Workflow.deadline_action": "What a missed deadline does: alert, or cancel the run.",
    "Workflow.defaults": "Task defaults for this workflow's tasks (over [defaults]).",
    "Workflow.paused": "A paused workflow does not fire on schedule.",
    "Workflow.tags": "Free labels (shown by `tapri list`).",
    "Workflow.params": "Values templates read as {{ params.NAME }}.",
    "Workflow.notify": "Notifiers per event: on_failure, on_retry, on_success, on_late, "
    "on_missed, on_recovered.",
    "Workflow.task": "The tasks: [workflow.ID.task.TASK_ID].",
    "Task.description": "What the task does.",
    "Task.http": "An HTTP call: url, method, headers, params, json, body, expect_status.",
    "Task.after": "Tasks that must finish first (with `flow`, unioned).",
    "Task.trigger": "When the task runs, given its upstream tasks' outcomes.",
    "Task.notify": "Notifiers per event for this task (added to the workflow's).",
    "Task.deadline": "Alert (or cancel) when the task is not finished by then: a duration "
    'after the fire ("5m") or a local time ("15:55").',
    "Task.deadline_action": "What a missed deadline does: alert, or cancel the task.",
    "NotifyRoutes.on_failure": "Notifiers told when a run or task fails.",
    "NotifyRoutes.on_retry": "Notifiers told when a task is retried.",
    "NotifyRoutes.on_success": "Notifiers told when a run succeeds.",
    "NotifyRoutes.on_late": "Notifiers told when a deadline passes.",
    "NotifyRoutes.on_missed": "Notifiers told when a fire is missed (daemon down, overlap).",
    "NotifyRoutes.on_recovered": "Notifiers told when a failing workflow succeeds again.",
    "HttpRequest.url": "The URL to call.",
    "HttpRequest.method": "The HTTP method.",
    "HttpRequest.headers": "Request headers.",
    "HttpRequest.params": "Query parameters.",
    "Notifier.language": "Language of the default message templates.",
    "Notifier.title": "Title of the message (default from the event).",
    "Notifier.retries": "Extra delivery tries after a failed one.",
    "Pool.description": "What the pool protects.",
    "Pool.slots": "Tasks that may hold a slot at the same time.",
    "Calendar.description": "What the calendar is.",
    "Calendar.weekend": "Weekday names that are not working days.",
    "Calendar.extra_holidays": "More non-working days (YYYY-MM-DD).",
    "Calendar.extra_workdays": "Working days even if weekend or holiday (YYYY-MM-DD).",
    "Settings.daemon": "The daemon's settings.",
    "Settings.metrics": "Prometheus metrics endpoint.",
    "DaemonSettings.max_parallel_tasks": "Tasks running at the same time, across workflows.",
    "DaemonSettings.shutdown_grace": "On stop, how long running tasks may finish.",
    "DaemonSettings.log_format": "auto (console on a terminal, else JSON), json or console.",
    "DaemonSettings.log_level": "Lowest level logged.",
    "DaemonSettings.python_path": "Extra folders for python tasks' modules "
    "(relative to this file).",
}
