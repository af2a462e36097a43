"""Best-effort models from invalid pieces, so cross-checks still see the rest of them.

When a workflow has a misspelt key, the graph, schedule, reference and template checks
should still run on everything else in it; otherwise fixing one typo would reveal the next
problem, one run at a time. ``salvage`` removes each key pydantic refused (a task that is
wrong as a whole becomes a placeholder ``shell = "true"`` task that keeps its position
in the graph) and validates again, a few rounds at most.

A salvaged model is only ever used for checking: its piece already has an error, so the
load fails and nothing runs it.
"""

from __future__ import annotations

import copy
from typing import Any

from pydantic import BaseModel, ValidationError

from tapri_daemon.spec.locate import KeyPath
from tapri_daemon.spec.pydantic_problems import key_path

ROUNDS = 5
_TASK_SHAPE = ("after", "race", "at_fire", "fire_offset", "trigger", "allow_failure", "pool")


def salvage(root: type[BaseModel], data: dict[str, Any]) -> BaseModel | None:
    """``root`` validated from ``data`` minus what it refuses, or None."""
    pruned = copy.deepcopy(data)
    stubbed: set[KeyPath] = set()
    for _ in range(ROUNDS):
        try:
            return root.model_validate(pruned)
        except ValidationError as exc:
            paths = {key_path(pruned, error) for error in exc.errors()}
        changed = [_prune(pruned, path, stubbed) for path in sorted(paths, key=len, reverse=True)]
        if not any(changed):
            return None
    return None


def _node(data: Any, path: KeyPath) -> Any:
    for part in path:
        data = data[part]
    return data


def _exists(data: Any, path: KeyPath) -> bool:
    try:
        _node(data, path)
    except (KeyError, IndexError, TypeError):
        return False
    return True


def _prune(data: dict[str, Any], path: KeyPath, stubbed: set[KeyPath]) -> bool:
    if not _exists(data, path):
        path = path[:-1]
    if len(path) <= 2 or not _exists(data, path):
        return False
    if _is_task(path) and path not in stubbed and isinstance(_node(data, path), dict):
        stubbed.add(path)
        _node(data, path[:-1])[path[-1]] = _stub(_node(data, path))
        return True
    parent = _node(data, path[:-1])
    if isinstance(parent, list):
        return _prune(data, path[:-1], stubbed)
    del parent[path[-1]]
    return True


def _is_task(path: KeyPath) -> bool:
    return len(path) == 4 and path[0] == "workflow" and path[2] == "task"


def _stub(task: dict[str, Any]) -> dict[str, Any]:
    kept = {key: value for key, value in task.items() if key in _TASK_SHAPE}
    return {**kept, "shell": "true"}
