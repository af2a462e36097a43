"""Files -> validated Definitions, with every problem located.

``load_settings`` reads the daemon's own file (see ``spec.settings``);
``load_definitions`` reads every definitions file and what it includes, validates each
piece, merges them, cross-checks the merged set (``spec.check``) and raises one
``ConfigError`` listing every error (and the warnings) in file order.

Merge rule: each calendar, pool, notifier, database and workflow id may be defined in
one file only, and ``[defaults]`` may appear in one file only; a second definition is an
error that names both places. Includes are read once each, depth first, in the order
they are listed (globs sorted); a file reached twice is read once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tapri_daemon.errors import ConfigError, Problem
from tapri_daemon.model import Definitions, TaskDefaults
from tapri_daemon.spec.check import check_definitions
from tapri_daemon.spec.findings import Finding
from tapri_daemon.spec.locate import KeyPath
from tapri_daemon.spec.pieces import KEYED_SECTIONS, FilePieces, definitions_pieces
from tapri_daemon.spec.settings import LoadedSettings, Paths, expand, load_settings
from tapri_daemon.spec.source import Source, file_problem, read_source, shown_path

__all__ = ["Loaded", "LoadedSettings", "Paths", "load_definitions", "load_settings"]


@dataclass(frozen=True, kw_only=True)
class Loaded:
    definitions: Definitions
    settings: LoadedSettings
    files: tuple[Path, ...]
    origins: Mapping[str, Path]
    warnings: tuple[Problem, ...]
    digest: str

    def base_dir_of(self, workflow_id: str) -> Path:
        """The folder of the file defining the workflow (python modules resolve from it)."""
        return self.origins[f"workflow.{workflow_id}"].parent


def load_definitions(settings: LoadedSettings) -> Loaded:
    """Read, validate, merge and cross-check; ConfigError listing every error."""
    reader = _Reader()
    for path in settings.workflow_files:
        reader.visit(path)
    if not settings.workflow_files:
        reader.problems.append(_no_files(settings))
    merged = _Merge()
    for pieces in reader.pieces:
        merged.add(pieces)
    definitions = merged.definitions()
    findings = check_definitions(
        definitions, default_timezone=settings.default_timezone, declared=merged.declared()
    )
    problems = reader.problems + merged.problems + [merged.locate(f) for f in findings]
    return _result(settings, reader, merged, definitions, reader.sorted(problems))


def _result(
    settings: LoadedSettings,
    reader: _Reader,
    merged: _Merge,
    definitions: Definitions,
    problems: list[Problem],
) -> Loaded:
    if any(p.severity == "error" for p in problems):
        raise ConfigError(problems)
    sources = [pieces.source for pieces in reader.pieces]
    return Loaded(
        definitions=definitions,
        settings=settings,
        files=tuple(s.path for s in sources),
        origins={name: source.path for name, (source, _) in merged.first.items()},
        warnings=tuple(problems),
        digest=_digest(sources),
    )


def _digest(sources: list[Source]) -> str:
    sha = hashlib.sha256()
    for source in sources:
        sha.update(str(source.path).encode() + b"\0" + source.raw + b"\0")
    return sha.hexdigest()


def _no_files(settings: LoadedSettings) -> Problem:
    config = settings.paths.config_file
    if config is None:
        return file_problem(settings.paths.base_dir / "workflows.toml", "file not found")
    source = read_source(config)
    message = "matches no definitions file"
    if isinstance(source, Source):
        return source.problem(("daemon", "workflows"), message)
    return Problem(
        file=shown_path(config), line=None, col=None, key="daemon.workflows", message=message
    )


@dataclass
class _Reader:
    """Reads definition files depth first through their includes, each file once."""

    pieces: list[FilePieces] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    order: list[str] = field(default_factory=list)
    seen: set[Path] = field(default_factory=set)

    def visit(self, path: Path) -> None:
        if path.resolve() in self.seen:
            return
        self.seen.add(path.resolve())
        self.order.append(shown_path(path))
        source = read_source(path)
        if not isinstance(source, Source):
            self.problems.append(source)
            return
        pieces = definitions_pieces(source)
        self.pieces.append(pieces)
        self.problems += pieces.problems
        for i, pattern in enumerate(pieces.include):
            self.include(source, ("include", i), pattern)

    def include(self, source: Source, key: KeyPath, pattern: str) -> None:
        matches = expand(pattern, source.path.parent)
        if not matches:
            self.problems.append(source.problem(key, f'"{pattern}" matches no file', "warning"))
        for path in matches:
            if path.is_file():
                self.visit(path)
            else:
                shown = shown_path(path)
                self.problems.append(source.problem(key, f"included file not found: {shown}"))

    def sorted(self, problems: list[Problem]) -> list[Problem]:
        rank = {name: n for n, name in enumerate(self.order)}

        def key(p: Problem) -> tuple[int, int, int]:
            return (rank.get(p.file, len(rank)), p.line or 0, p.col or 0)

        return sorted(problems, key=key)


@dataclass
class _Merge:
    """Merges files' pieces; the first definition of a name wins, a second is an error."""

    first: dict[str, tuple[Source, KeyPath]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    defaults: TaskDefaults | None = None
    sections: dict[str, dict[str, Any]] = field(
        default_factory=lambda: {name: {} for name in KEYED_SECTIONS}
    )

    def add(self, pieces: FilePieces) -> None:
        source = pieces.source
        owned = {key for key in self._claims(source) if self._claim(source, key)}
        if pieces.defaults is not None and ("defaults",) in owned:
            self.defaults = pieces.defaults
        for entry in pieces.entries:
            if (entry.section, entry.id) in owned:
                self.sections[entry.section][entry.id] = entry.value

    def _claims(self, source: Source) -> list[KeyPath]:
        keys: list[KeyPath] = [("defaults",)] if "defaults" in source.data else []
        for section in KEYED_SECTIONS:
            table = source.data.get(section)
            if isinstance(table, dict):
                keys += [(section, name) for name in table]
        return keys

    def _claim(self, source: Source, key: KeyPath) -> bool:
        name = ".".join(str(part) for part in key)
        if name not in self.first:
            self.first[name] = (source, key)
            return True
        earlier, earlier_key = self.first[name]
        what = "[defaults]" if key == ("defaults",) else f'{key[0]} "{key[1]}"'
        self.problems.append(
            source.problem(
                key,
                f"{what} is defined twice: first at {earlier.where(earlier_key)}, "
                f"again at {source.where(key)}",
            )
        )
        return False

    def declared(self) -> dict[str, set[str]]:
        """Every id written in a file, valid or not (so no "unknown" noise for broken ones)."""
        names: dict[str, set[str]] = {section: set() for section in KEYED_SECTIONS}
        for _, key in self.first.values():
            if key[0] in names:
                names[str(key[0])].add(str(key[1]))
        return names

    def definitions(self) -> Definitions:
        data: dict[str, Any] = {"defaults": self.defaults or TaskDefaults(), **self.sections}
        return Definitions.model_validate(data)

    def locate(self, finding: Finding) -> Problem:
        key = finding.key
        name = "defaults" if key[0] == "defaults" else f"{key[0]}.{key[1]}"
        source, _ = self.first[name]
        return source.problem(key, finding.message, finding.severity)
