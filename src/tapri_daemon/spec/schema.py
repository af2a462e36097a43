"""One JSON Schema for both file kinds, generated from the models.

The root object's properties are the union of ``Settings``' top-level keys (``daemon``,
``metrics``) and ``Definitions``' (``include``, ``defaults``, ``calendar``, ``pool``,
``notifier``, ``database``, ``workflow``), with ``additionalProperties: false``, so a
misspelt table is flagged in either file. The models themselves sit in ``$defs``.

pydantic's output is adjusted to what TOML can say: no ``null`` (TOML has none), keys
that also take a single string (``schedule = "..."``) or a boolean (``catchup = true``)
say so, and id-keyed tables constrain their keys to the id pattern.
"""

from __future__ import annotations

import json
import typing
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, BeforeValidator
from pydantic.json_schema import models_json_schema

from tapri_daemon import model
from tapri_daemon.model import Definitions, Settings
from tapri_daemon.spec.pydantic_problems import model_at
from tapri_daemon.spec.schema_docs import FIELD_DOCS

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
_ROOTS: tuple[type[BaseModel], ...] = (Settings, Definitions)
_SINGLE_STRING: tuple[Callable[..., Any], ...] = (model._as_tuple, model._split_command)


def json_schema() -> dict[str, Any]:
    """The schema as a dict (see the module docstring for its shape)."""
    _, generated = models_json_schema(
        [(m, "validation") for m in _ROOTS], ref_template="#/$defs/{model}"
    )
    defs: dict[str, Any] = generated["$defs"]
    for cls in _models():
        if cls.__name__ in defs:
            _adjust_properties(cls, defs[cls.__name__]["properties"])
    properties = {k: v for m in _ROOTS for k, v in defs.pop(m.__name__)["properties"].items()}
    return {
        "$schema": SCHEMA_DIALECT,
        "title": "tapri",
        "description": "tapri-daemon files: config/tapri.toml ([daemon], [metrics]) and "
        "workflows.toml ([defaults], [calendar.*], [pool.*], [notifier.*], [database.*], "
        "[workflow.*]).",
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
        "$defs": dict(sorted(defs.items())),
    }


def schema_text() -> str:
    """The schema as committed in config/tapri.schema.json (without the final newline)."""
    return json.dumps(_tidy(json_schema()), indent=2, ensure_ascii=False)


def _models() -> list[type[BaseModel]]:
    found: list[type[BaseModel]] = []
    stack = list(_ROOTS)
    while stack:
        cls = stack.pop()
        if cls not in found:
            found.append(cls)
            stack += _nested_models(cls)
    return found


def _nested_models(cls: type[BaseModel]) -> list[type[BaseModel]]:
    """Models used by cls's fields, directly or as the items of a table or list."""
    found = [model_at(cls, [name]) or model_at(cls, [name, "item"]) for name in cls.model_fields]
    return [m for m in found if m is not None]


def _adjust_properties(cls: type[BaseModel], properties: dict[str, Any]) -> None:
    for name, info in cls.model_fields.items():
        prop = properties.get(info.alias or name)
        if prop is None:
            continue
        prop.pop("title", None)
        if "description" not in prop and f"{cls.__name__}.{name}" in FIELD_DOCS:
            prop["description"] = FIELD_DOCS[f"{cls.__name__}.{name}"]
        befores = [m.func for m in info.metadata if isinstance(m, BeforeValidator)]
        if any(func in _SINGLE_STRING for func in befores):
            properties[info.alias or name] = _or(prop, {"type": "string"})
        elif model._catchup in befores:
            properties[info.alias or name] = _or(prop, {"type": "boolean"})
        if _id_keyed(info.annotation):
            prop["propertyNames"] = {"pattern": model.ID_PATTERN}


def _or(prop: dict[str, Any], alternative: dict[str, Any]) -> dict[str, Any]:
    keep: dict[str, Any] = {k: prop.pop(k) for k in ("default", "description") if k in prop}
    return {"anyOf": [prop, alternative], **keep}


def _id_keyed(annotation: Any) -> bool:
    args = typing.get_args(annotation)
    return typing.get_origin(annotation) is dict and bool(args) and args[0] is model.Id


def _tidy(node: Any) -> Any:
    """Drop what TOML cannot write (null) and defaults that say nothing."""
    if isinstance(node, list):
        return [_tidy(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = _drop_null(node)
    return {key: _tidy(value) for key, value in node.items() if not _empty_default(key, value)}


def _drop_null(node: dict[str, Any]) -> dict[str, Any]:
    options = node.get("anyOf")
    if not isinstance(options, list) or {"type": "null"} not in options:
        return node
    rest = [option for option in options if option != {"type": "null"}]
    outer = {k: v for k, v in node.items() if k != "anyOf"}
    return {**rest[0], **outer} if len(rest) == 1 else {**outer, "anyOf": rest}


def _empty_default(key: str, value: Any) -> bool:
    return key == "default" and (value is None or isinstance(value, dict))
