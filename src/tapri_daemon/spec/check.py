"""Cross-checks of the merged definitions. Pure: model in, findings out.

A ``Finding`` carries the key path from a file's root (``("workflow", "rbi", "task",
"gen", "pool")``); the loader turns it into a located ``Problem`` using the file that
defined the workflow (or calendar, or ``[defaults]``).

Checks: each workflow's graph (cycles as a path, unknown and self dependencies, flow
syntax); references to calendars, pools, notifiers and databases; precise-only keys;
races; sql without a database; schedules and calendars (via ``timing``); templates.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping

from tapri_daemon.errors import DefinitionError, suggest
from tapri_daemon.graph import TaskGraph, graph_problems
from tapri_daemon.model import ID_PATTERN, Definitions, NotifyRoutes, TaskDefaults, Workflow
from tapri_daemon.spec.findings import Finding, Found, errors, within
from tapri_daemon.spec.locate import KeyPath
from tapri_daemon.spec.templates import defaults_template_findings, workflow_template_findings
from tapri_daemon.spec.timing_checks import calendar_findings, schedule_findings

__all__ = ["Finding", "check_definitions", "check_workflow"]
_ID = re.compile(ID_PATTERN)


def check_definitions(
    definitions: Definitions,
    *,
    default_timezone: str,
    declared: Mapping[str, Collection[str]] | None = None,
) -> list[Finding]:
    """Every cross-check problem. ``declared``: ids written in the files, valid or not."""
    known = declared or _declared(definitions)
    refs = _References(known)
    findings = refs.defaults(("defaults",), definitions.defaults)
    findings += within(("defaults",), errors(defaults_template_findings(definitions.defaults)))
    for name, calendar in definitions.calendar.items():
        findings += within(("calendar", name), calendar_findings(calendar))
    for workflow_id, workflow in definitions.workflow.items():
        findings += check_workflow(workflow_id, workflow, definitions, default_timezone, refs)
    return findings


def _declared(definitions: Definitions) -> dict[str, Collection[str]]:
    return {
        section: set(getattr(definitions, section))
        for section in ("calendar", "pool", "notifier", "database", "workflow")
    }


def check_workflow(
    workflow_id: str,
    workflow: Workflow,
    definitions: Definitions,
    default_timezone: str,
    refs: _References,
) -> list[Finding]:
    graph, found = _graph(workflow)
    found += refs.workflow(workflow)
    found += _precise(workflow)
    found += _tasks(workflow)
    found += _races(workflow, graph)
    found += errors(workflow_template_findings(workflow, graph))
    found += schedule_findings(
        workflow, default_timezone=default_timezone, calendars=definitions.calendar
    )
    return within(("workflow", workflow_id), found)


def _graph(workflow: Workflow) -> tuple[TaskGraph | None, Found]:
    """The graph, or every graph problem (collected only when building it fails)."""
    try:
        return TaskGraph.of(workflow), []
    except DefinitionError as exc:
        found: Found = [(key, error.message, "error") for key, error in graph_problems(workflow)]
        return None, found or [((), exc.message, "error")]


class _References:
    """Names that must exist: calendars, pools, notifiers, databases."""

    def __init__(self, known: Mapping[str, Collection[str]]) -> None:
        self.known = known

    def check(self, key: KeyPath, section: str, name: str | None) -> Found:
        names = self.known.get(section, ())
        if name is None or name in names:
            return []
        hint = suggest(name, names) or (f" (no [{section}.NAME] is defined)" if not names else "")
        return [(key, f'unknown {section} "{name}"{hint}', "error")]

    def defaults(self, prefix: KeyPath, defaults: TaskDefaults) -> list[Finding]:
        return within(prefix, self.check(("pool",), "pool", defaults.pool))

    def routes(self, prefix: KeyPath, routes: NotifyRoutes) -> Found:
        return [
            problem
            for event in NotifyRoutes.model_fields
            for i, name in enumerate(getattr(routes, event))
            for problem in self.check((*prefix, event, i), "notifier", name)
        ]

    def workflow(self, workflow: Workflow) -> Found:
        found = self.check(("calendar",), "calendar", workflow.calendar)
        found += self.check(("defaults", "pool"), "pool", workflow.defaults.pool)
        found += self.routes(("notify",), workflow.notify)
        for task_id, task in workflow.task.items():
            prefix: KeyPath = ("task", task_id)
            found += self.check((*prefix, "pool"), "pool", task.pool)
            found += self.routes((*prefix, "notify"), task.notify)
            found += self.database((*prefix, "database"), task.database)
        return found

    def database(self, key: KeyPath, value: str | None) -> Found:
        if value is None or "://" in value:
            return []
        if _ID.match(value):
            return self.check(key, "database", value)
        message = f'"{value}" is neither a [database.NAME] nor a URL like sqlite:///x.db'
        return [(key, message, "error")]


def _precise(workflow: Workflow) -> Found:
    if workflow.precise:
        return _precise_needs(workflow)
    why = "only applies to a precise workflow (set precise = true on the workflow)"
    found: Found = []
    if workflow.lead is not None:
        found.append((("lead",), f"`lead` {why}", "error"))
    for task_id, task in workflow.task.items():
        for key in ("at_fire", "fire_offset"):
            if getattr(task, key) not in (None, False):
                found.append((("task", task_id, key), f"`{key}` {why}", "error"))
    return found


def _precise_needs(workflow: Workflow) -> Found:
    found: Found = []
    if not workflow.schedule:
        found.append((("precise",), "a precise workflow needs a schedule", "error"))
    for task_id, task in workflow.task.items():
        if task.fire_offset is not None and not task.at_fire:
            message = "`fire_offset` only applies with at_fire = true"
            found.append((("task", task_id, "fire_offset"), message, "warning"))
    return found


def _tasks(workflow: Workflow) -> Found:
    message = "a sql task needs `database` (a [database.NAME] or a URL)"
    return [
        (("task", task_id, "sql"), message, "error")
        for task_id, task in workflow.task.items()
        if task.sql is not None and task.database is None
    ]


def _races(workflow: Workflow, graph: TaskGraph | None) -> Found:
    races: dict[str, list[str]] = {}
    for task_id, task in workflow.task.items():
        if task.race:
            races.setdefault(task.race, []).append(task_id)
    found: Found = []
    for race, members in races.items():
        found += _race(workflow, race, members, graph)
    return found


def _race(workflow: Workflow, race: str, members: list[str], graph: TaskGraph | None) -> Found:
    key: KeyPath = ("task", members[0], "race")
    if race in workflow.task:
        message = f'race "{race}" has the name of a task, so outputs.{race} would be ambiguous'
        return [(key, message, "error")]
    if len(members) == 1:
        return [(key, f'race "{race}" has only one task', "warning")]
    if graph is None:
        return []
    first = graph.upstream[members[0]]
    return [
        (
            ("task", other, "race"),
            f'race "{race}": tasks in a race must have the same upstream tasks, but '
            f'"{members[0]}" runs after {_names(first)} and "{other}" after '
            f"{_names(graph.upstream[other])}",
            "error",
        )
        for other in members[1:]
        if graph.upstream[other] != first
    ]


def _names(tasks: Collection[str]) -> str:
    return "[" + ", ".join(sorted(tasks)) + "]" if tasks else "nothing"
