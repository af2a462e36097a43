"""Definitions as the daemon holds them: one immutable snapshot, swapped whole on reload.

``Snapshot.load`` parses and validates *everything* (every file, every schedule) before the
daemon touches anything; a ConfigError leaves the running snapshot in place. ``diff`` says
what a swap changes (workflows added, removed, with changed schedules, otherwise changed),
for the ``config.reloaded`` log event.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from tapri_daemon.daemon.firing import Schedule
from tapri_daemon.errors import ConfigError, DefinitionError, Problem
from tapri_daemon.model import Workflow
from tapri_daemon.spec.load import Loaded, LoadedSettings, load_definitions
from tapri_daemon.timing.schedule import WorkflowSchedule

EARLY_WAKE = timedelta(milliseconds=20)
"""Non-precise workflows: APScheduler wakes this early, the precise clock waits the rest."""

_SCHEDULE_KEYS = (
    "schedule",
    "timezone",
    "calendar",
    "on_holiday",
    "start_date",
    "end_date",
    "precise",
    "lead",
)


@dataclass(frozen=True, kw_only=True)
class Snapshot:
    """Validated definitions and each scheduled workflow's schedule."""

    loaded: Loaded
    schedules: Mapping[str, WorkflowSchedule]

    @classmethod
    def load(cls, settings: LoadedSettings) -> Snapshot:
        """Parse and validate every file and every schedule; ConfigError lists every error."""
        loaded = load_definitions(settings)
        return cls(loaded=loaded, schedules=_schedules(loaded, settings.default_timezone))

    @property
    def workflows(self) -> Mapping[str, Workflow]:
        return self.loaded.definitions.workflow

    @property
    def digest(self) -> str:
        return self.loaded.digest

    def advance(self, workflow: str) -> timedelta:
        """How early APScheduler wakes for this workflow's instants."""
        definition = self.workflows[workflow]
        return definition.effective_lead if definition.precise else EARLY_WAKE

    def scheduled(self) -> Mapping[str, Schedule]:
        return {name: s for name, s in self.schedules.items() if not s.is_manual}

    def watched_files(self) -> tuple[Path, ...]:
        config = self.loaded.settings.paths.config_file
        return (*self.loaded.files, *((config,) if config else ()))


def _schedules(loaded: Loaded, default_timezone: str) -> dict[str, WorkflowSchedule]:
    definitions = loaded.definitions
    schedules: dict[str, WorkflowSchedule] = {}
    problems: list[Problem] = []
    for name, workflow in definitions.workflow.items():
        try:
            schedules[name] = WorkflowSchedule.from_workflow(
                workflow, default_timezone=default_timezone, calendars=definitions.calendar
            )
        except DefinitionError as exc:
            origin = loaded.origins.get(f"workflow.{name}")
            problems.append(
                Problem(
                    file=str(origin) if origin else "?",
                    line=None,
                    col=None,
                    key=f"workflow.{name}.schedule",
                    message=exc.message,
                )
            )
    if problems:
        raise ConfigError(problems)
    return schedules


@dataclass(frozen=True, kw_only=True)
class ConfigDiff:
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    rescheduled: tuple[str, ...] = ()
    """Workflows whose schedule, zone, calendar, dates or precise settings changed."""
    changed: tuple[str, ...] = ()
    """Workflows changed otherwise (tasks, flow, limits...)."""

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.rescheduled or self.changed)

    def as_dict(self) -> dict[str, list[str]]:
        return {
            "added": list(self.added),
            "removed": list(self.removed),
            "rescheduled": list(self.rescheduled),
            "changed": list(self.changed),
        }


def _schedule_part(workflow: Workflow) -> tuple[Any, ...]:
    return tuple(getattr(workflow, key) for key in _SCHEDULE_KEYS)


def diff(old: Mapping[str, Workflow], new: Mapping[str, Workflow]) -> ConfigDiff:
    common = sorted(set(old) & set(new))
    rescheduled = [n for n in common if _schedule_part(old[n]) != _schedule_part(new[n])]
    changed = [n for n in common if n not in rescheduled and old[n] != new[n]]
    return ConfigDiff(
        added=tuple(sorted(set(new) - set(old))),
        removed=tuple(sorted(set(old) - set(new))),
        rescheduled=tuple(rescheduled),
        changed=tuple(changed),
    )


@dataclass
class FileWatch:
    """Polls modification times (no new dependency); ``changed()`` once per edit."""

    files: tuple[Path, ...]
    _seen: dict[Path, tuple[int, int] | None] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._seen = {path: _stamp(path) for path in self.files}

    def changed(self) -> bool:
        now = {path: _stamp(path) for path in self.files}
        moved = now != self._seen
        self._seen = now
        return moved

    def follow(self, files: tuple[Path, ...]) -> None:
        """Watch a new file list (after a reload added or dropped includes)."""
        self.files = files
        self._seen = {path: _stamp(path) for path in files}


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return (stat.st_mtime_ns, stat.st_size)
