"""What the engine derives once per workflow definition and reuses for every run of it."""

from __future__ import annotations

from typing import Any

from tapri_daemon.engine.templates import has_templates
from tapri_daemon.engine.timeline import schedule_of, working_day_test
from tapri_daemon.graph import TaskGraph
from tapri_daemon.model import Definitions, Task, TaskDefaults, TaskKind, TaskSettings
from tapri_daemon.timing.schedule import WorkflowSchedule


def _task_has_templates(task: Task) -> bool:
    fields = (
        task.command,
        task.shell,
        task.http.model_dump(by_alias=True) if task.http else None,
        task.args,
        task.sql_params,
        task.env,
    )
    return any(has_templates(value) for value in fields if value)


_DEFAULT_FIELDS = frozenset(TaskDefaults.model_fields)


def _settings_key(task: Task) -> tuple[Any, ...]:
    """The settings a task sets itself; tasks with equal keys resolve alike."""
    own = sorted(_DEFAULT_FIELDS & task.model_fields_set)
    return tuple((name, repr(getattr(task, name))) for name in own)


class Shape:
    """A workflow's graph, resolved task settings and output visibility, computed lazily."""

    def __init__(self, definitions: Definitions, workflow_id: str) -> None:
        self.definitions = definitions
        self.workflow_id = workflow_id
        self.workflow = definitions.workflow[workflow_id]
        self.graph = TaskGraph.of(self.workflow)
        self.races: dict[str, frozenset[str]] = {}
        for tid, task in self.workflow.task.items():
            if task.race is not None:
                self.races[task.race] = self.races.get(task.race, frozenset()) | {tid}
        self._settings: dict[str, TaskSettings] = {}
        self._by_key: dict[tuple[Any, ...], TaskSettings] = {}
        self._schedules: dict[str, WorkflowSchedule | None] = {}
        self.is_working_day = working_day_test(definitions, self.workflow)
        self._templated: dict[str, bool] = {}
        self._kinds: dict[str, TaskKind] = {}
        self._visible: dict[str, tuple[str, ...]] | None = None

    def schedule(self, default_timezone: str) -> WorkflowSchedule | None:
        """The compiled schedule (None for a manual-only workflow), compiled once."""
        if default_timezone not in self._schedules:
            self._schedules[default_timezone] = schedule_of(
                self.definitions, self.workflow, default_timezone
            )
        return self._schedules[default_timezone]

    def settings(self, task_id: str) -> TaskSettings:
        """The task's settings resolved (task, workflow defaults, file defaults).

        Resolved once per distinct combination: 10,000 tasks that set nothing of their own
        share one TaskSettings.
        """
        found = self._settings.get(task_id)
        if found is None:
            key = _settings_key(self.workflow.task[task_id])
            found = self._by_key.get(key)
            if found is None:
                found = self._by_key[key] = self.definitions.task_settings(
                    self.workflow_id, task_id
                )
            self._settings[task_id] = found
        return found

    def cancellable(self, task_id: str) -> bool:
        """Whether the engine may cancel this task alone (race, deadline_action=cancel)."""
        task = self.workflow.task[task_id]
        return task.race is not None or (
            task.deadline is not None and task.deadline_action == "cancel"
        )

    def kind(self, task_id: str) -> TaskKind:
        found = self._kinds.get(task_id)
        if found is None:
            found = self._kinds[task_id] = self.workflow.task[task_id].kind
        return found

    def templated(self, task_id: str) -> bool:
        """Whether any string of the task (env included) holds template syntax."""
        found = self._templated.get(task_id)
        if found is None:
            task = self.workflow.task[task_id]
            env = self.settings(task_id).env
            found = self._templated[task_id] = _task_has_templates(task) or has_templates(env)
        return found

    def visible(self, task_id: str) -> tuple[str, ...]:
        """The ids a task finds in ``outputs``: its ancestors, and races made only of them."""
        if self._visible is None:
            self._visible = self._compute_visible()
        return self._visible[task_id]

    def _compute_visible(self) -> dict[str, tuple[str, ...]]:
        ancestors: dict[str, frozenset[str]] = {}
        for tid in self.graph.order:
            found: set[str] = set()
            for up in self.graph.upstream[tid]:
                found.add(up)
                found |= ancestors[up]
            ancestors[tid] = frozenset(found)
        return {tid: self._with_races(ancestors[tid]) for tid in self.graph.order}

    def _with_races(self, ancestors: frozenset[str]) -> tuple[str, ...]:
        races = [race for race, members in self.races.items() if members <= ancestors]
        return (*ancestors, *races)
