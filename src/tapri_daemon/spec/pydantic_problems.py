"""pydantic ValidationErrors -> located Problems with readable messages.

Each error's ``loc`` is walked through the file's data to find the key path the user
wrote (pydantic adds union member names and ``[key]`` markers that are not in the file).
Unknown keys get a did-you-mean from the field names of the model that refused them.
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from tapri_daemon.errors import Problem, suggest
from tapri_daemon.model import Definitions, Settings, TaskDefaults, Workflow
from tapri_daemon.spec.locate import KeyPath
from tapri_daemon.spec.source import Source

_OTHER_FILE: dict[type[BaseModel], tuple[type[BaseModel], str]] = {
    Definitions: (Settings, "the daemon settings file, config/tapri.toml (--config)"),
    Settings: (Definitions, "a definitions file such as workflows.toml (--workflows)"),
}
_QUOTED = re.compile(r"'([^']*)'")
_PREFIXES = ("Value error, ", "Assertion failed, ")


def validation_problems(
    source: Source, root: type[BaseModel], data: Mapping[str, Any], exc: ValidationError
) -> list[Problem]:
    """One problem per key path (errors at the same key are joined)."""
    grouped: dict[KeyPath, list[str]] = {}
    for error in exc.errors():
        key = key_path(data, error)
        message = _message(root, error)
        if message not in grouped.setdefault(key, []):
            grouped[key].append(message)
    return [source.problem(key, "; ".join(messages)) for key, messages in grouped.items()]


def key_path(data: Mapping[str, Any], error: ErrorDetails) -> KeyPath:
    """The part of ``loc`` that exists in the data (plus a missing key's own name)."""
    path: list[str | int] = []
    node: Any = data
    loc = error["loc"]
    for n, part in enumerate(loc):
        child = _child(node, part)
        if child is not _ABSENT:
            path.append(part)
            node = child
        elif error["type"] == "missing" and n == len(loc) - 1:
            path.append(part)
    return tuple(path)


_ABSENT = object()


def _child(node: Any, part: str | int) -> Any:
    if isinstance(node, Mapping) and part in node:
        return node[part]
    if isinstance(node, list | tuple) and isinstance(part, int) and 0 <= part < len(node):
        return node[part]
    return _ABSENT


def _message(root: type[BaseModel], error: ErrorDetails) -> str:
    kind = error["type"]
    loc = error["loc"]
    if kind == "extra_forbidden":
        return _unknown_key(root, loc)
    if kind == "missing":
        return f'the required key "{loc[-1]}" is missing'
    if kind == "literal_error":
        return _literal(error)
    if kind == "string_pattern_mismatch" and loc and loc[-1] == "python":
        return 'write "module:function", e.g. "banking:generate_report"'
    text = str(error["msg"])
    for prefix in _PREFIXES:
        text = text.removeprefix(prefix)
    return text


def _unknown_key(root: type[BaseModel], loc: tuple[str | int, ...]) -> str:
    name = str(loc[-1])
    model = model_at(root, loc[:-1])
    known = _field_keys(model) if model is not None else []
    hint = suggest(name, known)
    if not hint and model is Workflow and name in TaskDefaults.model_fields:
        hint = " (a task setting: put it on a task or under [workflow.ID.defaults])"
    if not hint and model is not None and model in _OTHER_FILE:
        other, where = _OTHER_FILE[model]
        hint = f" ([{name}] belongs in {where})" if name in other.model_fields else ""
    return f'unknown key "{name}"{hint}'


def _literal(error: ErrorDetails) -> str:
    expected = str((error.get("ctx") or {}).get("expected", ""))
    value = error.get("input")
    hint = suggest(value, _QUOTED.findall(expected)) if isinstance(value, str) else ""
    return f"{value!r} is not one of {expected}{hint}"


def _field_keys(model: type[BaseModel]) -> list[str]:
    return [info.alias or name for name, info in model.model_fields.items()]


def model_at(root: type[BaseModel], loc: Sequence[str | int]) -> type[BaseModel] | None:
    """The model class that validates the value at ``loc`` below ``root``, if any."""
    current: Any = root
    for part in loc:
        model = _as_model(current)
        current = _field_type(model, part) if model is not None else _element_type(current)
        if current is None:
            return None
    return _as_model(current)


def _field_type(model: type[BaseModel], part: str | int) -> Any:
    for name, info in model.model_fields.items():
        if part in (name, info.alias):
            return info.annotation
    return None


def _unwrap(tp: Any) -> Any:
    """Strip Annotated and Optional (a union with one non-None member)."""
    while True:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            tp = typing.get_args(tp)[0]
            continue
        if origin in (typing.Union, types.UnionType):
            members = [a for a in typing.get_args(tp) if a is not type(None)]
            if len(members) != 1:
                return tp
            tp = members[0]
            continue
        return tp


def _as_model(tp: Any) -> type[BaseModel] | None:
    tp = _unwrap(tp)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return tp
    return None


def _element_type(tp: Any) -> Any:
    tp = _unwrap(tp)
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is dict and len(args) == 2:
        return args[1]
    if origin in (tuple, list) and args:
        return args[0]
    return None
