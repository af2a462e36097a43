"""Which notifiers hear an event: workflow routes plus the routes of the tasks concerned.

Pure. The route of an event kind is a field of ``model.NotifyRoutes``. A task's routes add
to its workflow's for the events that concern the task:

- an event about the task (``Event.task_id``): a retry, a late fire, its deadline;
- a failed run, for each task in ``details["failed_tasks"]`` (a task's ``on_failure``
  hears about the run its failure failed);
- a succeeded or recovered run, for every task of the workflow (each one finished well).
"""

from __future__ import annotations

from typing import Final

from tapri_daemon import model
from tapri_daemon.interfaces import Event, EventKind
from tapri_daemon.notify.context import failures

ROUTE_OF: Final = {
    EventKind.RUN_FAILED: "on_failure",
    EventKind.TASK_RETRYING: "on_retry",
    EventKind.RUN_SUCCEEDED: "on_success",
    EventKind.FIRE_LATE: "on_late",
    EventKind.DEADLINE_MISSED: "on_late",
    EventKind.FIRES_MISSED: "on_missed",
    EventKind.RUN_RECOVERED: "on_recovered",
}


def tasks_concerned(event: Event, workflow: model.Workflow) -> list[str]:
    """The tasks whose own routes hear ``event`` too."""
    if event.task_id:
        return [event.task_id]
    if event.kind is EventKind.RUN_FAILED:
        return [str(f["task"]) for f in failures(event)]
    if event.kind in (EventKind.RUN_SUCCEEDED, EventKind.RUN_RECOVERED):
        return list(workflow.task)
    return []


def notifier_names(definitions: model.Definitions, event: Event) -> list[str]:
    """Names of the notifiers routed to hear ``event``, each once, workflow routes first."""
    workflow = definitions.workflow.get(event.workflow)
    if workflow is None:
        return []
    route = ROUTE_OF[event.kind]
    names: list[str] = list(getattr(workflow.notify, route))
    for task_id in tasks_concerned(event, workflow):
        task = workflow.task.get(task_id)
        if task is not None:
            names.extend(getattr(task.notify, route))
    return list(dict.fromkeys(names))
