"""A parsed file -> validated models, piece by piece.

A definitions file is validated one top-level entry at a time (each workflow, calendar,
pool...), so a mistake in one workflow does not hide the others from the cross-checks.
Every piece goes through the same root model (``Definitions``), so problem locations and
did-you-mean candidates are computed one way for all of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from tapri_daemon.errors import Problem
from tapri_daemon.model import Definitions, Settings, TaskDefaults
from tapri_daemon.spec.pydantic_problems import validation_problems
from tapri_daemon.spec.salvage import salvage
from tapri_daemon.spec.source import Source

KEYED_SECTIONS = ("calendar", "pool", "notifier", "database", "workflow")
"""Tables of named entries; an id may be defined once across all files."""


@dataclass(frozen=True, kw_only=True)
class Entry:
    """One validated named entry, e.g. ("workflow", "rbi", <Workflow>)."""

    section: str
    id: str
    value: BaseModel
    salvaged: bool = False
    """Built from the piece minus its errors, for the cross-checks only."""


@dataclass(kw_only=True)
class FilePieces:
    """What one definitions file contributes."""

    source: Source
    include: tuple[str, ...] = ()
    defaults: TaskDefaults | None = None
    entries: list[Entry] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def _validate(source: Source, root: type[BaseModel], data: Mapping[str, Any]) -> Any:
    """The validated model, or the problems (as a list)."""
    try:
        return root.model_validate(data)
    except ValidationError as exc:
        return validation_problems(source, root, data, exc)


def validate_settings(source: Source) -> Settings | list[Problem]:
    result = _validate(source, Settings, source.data)
    return result if isinstance(result, Settings) else list(result)


def definitions_pieces(source: Source) -> FilePieces:
    pieces = FilePieces(source=source)
    for key, value in source.data.items():
        if key in KEYED_SECTIONS and isinstance(value, dict):
            for entry_id, entry in value.items():
                _entry(pieces, key, entry_id, entry)
        else:
            _whole(pieces, key, value)
    return pieces


def _entry(pieces: FilePieces, section: str, entry_id: str, data: Any) -> None:
    wrapped = {section: {entry_id: data}}
    result = _validate(pieces.source, Definitions, wrapped)
    salvaged = not isinstance(result, Definitions)
    if salvaged:
        pieces.problems += result
        result = salvage(Definitions, wrapped)
    if isinstance(result, Definitions) and entry_id in getattr(result, section):
        value = getattr(result, section)[entry_id]
        pieces.entries.append(Entry(section=section, id=entry_id, value=value, salvaged=salvaged))


def _whole(pieces: FilePieces, key: str, data: Any) -> None:
    result = _validate(pieces.source, Definitions, {key: data})
    if not isinstance(result, Definitions):
        pieces.problems += result
        result = salvage(Definitions, {key: data})
    if isinstance(result, Definitions) and key == "include":
        pieces.include = result.include
    elif isinstance(result, Definitions) and key == "defaults":
        pieces.defaults = result.defaults
