"""Run parameters: ``--param k=v`` parsing and validation against declared ``params``."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from tapri_daemon.errors import TapriError, suggest


class UnknownParamError(TapriError):
    def __init__(self, workflow: str, key: str, declared: Iterable[str]) -> None:
        known = sorted(declared)
        listed = ", ".join(known) if known else "none"
        super().__init__(
            f'workflow "{workflow}" has no param "{key}"{suggest(key, known)}; its params: {listed}'
        )


class ParamSyntaxError(TapriError):
    def __init__(self, text: str) -> None:
        super().__init__(f'--param "{text}": write KEY=VALUE, e.g. --param threshold=5000')


def parse_value(text: str) -> Any:
    """JSON when the text parses as JSON (``5``, ``true``, ``[1,2]``), else the text itself."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def parse_assignments(items: Iterable[str]) -> dict[str, Any]:
    """``["k=v", ...]`` from the command line as a mapping; the last one of a key wins."""
    parsed: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ParamSyntaxError(item)
        parsed[key.strip()] = parse_value(value)
    return parsed


def merge(
    workflow: str, declared: Mapping[str, Any], overrides: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The declared params with the overrides applied; an undeclared key is refused."""
    for key in overrides or {}:
        if key not in declared:
            raise UnknownParamError(workflow, key, declared)
    return {**declared, **(overrides or {})}
