"""One TOML file read from disk: bytes, text, parsed data and a key index for locating.

Everything that can go wrong before validation (a missing file, bytes that are not UTF-8,
TOML syntax) comes back as one located ``Problem`` instead of a ``Source``.
"""

from __future__ import annotations

import functools
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from tapri_daemon.errors import Problem
from tapri_daemon.spec.locate import KeyIndex, KeyPath, format_key, index_toml

Severity = Literal["error", "warning"]
_TOML_WHERE = re.compile(r"\s*\(at line (\d+), column (\d+)\)\s*$")
_TOML_END = re.compile(r"\s*\(at end of document\)\s*$")


def shown_path(path: Path) -> str:
    """The path as problems show it: relative to the working directory when inside it."""
    cwd = Path.cwd()
    if cwd != Path(cwd.anchor) and path.is_relative_to(cwd):
        return str(path.relative_to(cwd))
    return str(path)


@dataclass(frozen=True, kw_only=True)
class Source:
    """A TOML file that parsed."""

    path: Path
    shown: str
    raw: bytes
    text: str
    data: dict[str, Any]

    @functools.cached_property
    def index(self) -> KeyIndex:
        """Key positions, scanned on first use (only files with problems need them)."""
        return index_toml(self.text)

    def problem(self, key: KeyPath, message: str, severity: Severity = "error") -> Problem:
        """A problem at ``key`` (or at its nearest recorded enclosing key)."""
        found, position = self.index.find(key)
        return Problem(
            file=self.shown,
            line=position.line if position else None,
            col=position.col if position else None,
            key=format_key(_trim_indexes(key, found)),
            message=message,
            severity=severity,
        )

    def where(self, key: KeyPath) -> str:
        """``FILE:LINE`` of a key, for messages that name a second place."""
        position = self.index.position(key)
        return f"{self.shown}:{position.line}" if position else self.shown


def _trim_indexes(key: KeyPath, found: KeyPath) -> KeyPath:
    """Drop trailing list indexes the text does not have (a string where a list is allowed)."""
    while len(key) > len(found) and isinstance(key[-1], int):
        key = key[:-1]
    return key


def file_problem(
    path: Path, message: str, line: int | None = None, col: int | None = None
) -> Problem:
    return Problem(file=shown_path(path), line=line, col=col, key="", message=message)


def read_source(path: Path) -> Source | Problem:
    """Read and parse one TOML file; a problem instead when that cannot be done."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return file_problem(path, "file not found")
    except OSError as exc:
        return file_problem(path, f"cannot read the file: {exc.strerror or exc}")
    return parse_source(path, raw)


def parse_source(path: Path, raw: bytes) -> Source | Problem:
    try:
        text = raw.decode("utf-8").removeprefix("\ufeff")  # a BOM some editors write
    except UnicodeDecodeError as exc:
        return _not_utf8(path, raw, exc)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        return _syntax_problem(path, text, str(exc))
    return Source(path=path, shown=shown_path(path), raw=raw, text=text, data=data)


def _not_utf8(path: Path, raw: bytes, exc: UnicodeDecodeError) -> Problem:
    offset = exc.start
    line = raw.count(b"\n", 0, offset) + 1
    col = offset - raw.rfind(b"\n", 0, offset)
    return file_problem(
        path,
        f"the file is not UTF-8: byte 0x{raw[offset]:02x} at byte offset {offset} cannot be "
        "decoded (save the file as UTF-8)",
        line,
        col,
    )


def _syntax_problem(path: Path, text: str, message: str) -> Problem:
    match = _TOML_WHERE.search(message)
    if match:
        reason = message[: match.start()]
        return file_problem(
            path, f"TOML syntax error: {reason}", int(match.group(1)), int(match.group(2))
        )
    reason = _TOML_END.sub("", message)
    return file_problem(path, f"TOML syntax error: {reason}", text.count("\n") + 1)
