"""Key path -> (line, column) in a TOML text.

tomllib gives values but no positions, so this module scans the text once and records
where every key, table and array item starts. It understands table headers ``[a.b]``,
arrays of tables ``[[a.b]]`` (indexed by occurrence), dotted and quoted keys, inline
tables, arrays (each item is indexed), comments and every string form including the
multi-line ones, which must not be mistaken for structure.

A lookup that misses falls back to the longest recorded prefix, so a problem with a
missing key is reported at the table that should hold it. Scanning never raises: on a
text it does not understand it returns what it recorded so far.
"""

from __future__ import annotations

import bisect
import contextlib
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass

KeyPath = tuple[str | int, ...]

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_SPACE = " \t"
_SCALAR_END = ",]}\n#"


@dataclass(frozen=True, kw_only=True)
class Position:
    """1-based line and column."""

    line: int
    col: int


@dataclass(frozen=True, kw_only=True)
class KeyIndex:
    """Where each key path of one TOML text starts."""

    positions: Mapping[KeyPath, Position]

    def find(self, path: KeyPath) -> tuple[KeyPath, Position | None]:
        """The longest recorded prefix of ``path`` and its position (None: nothing)."""
        for end in range(len(path), 0, -1):
            found = self.positions.get(path[:end])
            if found is not None:
                return path[:end], found
        return (), None

    def position(self, path: KeyPath) -> Position | None:
        return self.find(path)[1]


def index_toml(text: str) -> KeyIndex:
    """Scan a TOML text; never raises."""
    scanner = _Scanner(text)
    with contextlib.suppress(IndexError, ValueError, tomllib.TOMLDecodeError):
        scanner.document()
    return KeyIndex(positions=dict(scanner.found))


def format_key(path: KeyPath) -> str:
    """Render ("workflow", "a", "after", 0) as ``workflow.a.after[0]``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
            continue
        shown = part if _BARE_KEY.fullmatch(part) else '"' + part.replace('"', '\\"') + '"'
        out += f".{shown}" if out else shown
    return out


class _Scanner:
    """A forgiving recursive-descent reader that records positions, not values."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.i = 0
        self.found: dict[KeyPath, Position] = {}
        self.line_starts = [0] + [m.end() for m in re.finditer("\n", text)]
        self.array_tables: dict[KeyPath, int] = {}

    # positions --------------------------------------------------------------
    def here(self, at: int | None = None) -> Position:
        offset = self.i if at is None else at
        line = bisect.bisect_right(self.line_starts, offset)
        return Position(line=line, col=offset - self.line_starts[line - 1] + 1)

    def record(self, path: KeyPath, at: int) -> None:
        if path and path not in self.found:
            self.found[path] = self.here(at)

    def peek(self, count: int = 1) -> str:
        return self.text[self.i : self.i + count]

    def at_end(self) -> bool:
        return self.i >= len(self.text)

    # whitespace and comments -------------------------------------------------
    def skip_space(self) -> None:
        while not self.at_end() and self.text[self.i] in _SPACE:
            self.i += 1

    def skip_comment(self) -> None:
        if self.peek() == "#":
            end = self.text.find("\n", self.i)
            self.i = len(self.text) if end < 0 else end

    def skip_blank(self) -> None:
        """Spaces, newlines and comments."""
        start = -1
        while start != self.i:
            start = self.i
            self.skip_space()
            self.skip_comment()
            if self.peek() in ("\n", "\r"):
                self.i += 1

    # document ----------------------------------------------------------------
    def document(self) -> None:
        table: KeyPath = ()
        while True:
            self.skip_blank()
            if self.at_end():
                return
            before = self.i
            table = self.header() if self.peek() == "[" else self.keyval(table, table)
            if self.i == before:
                self.i += 1

    def header(self) -> KeyPath:
        is_array = self.peek(2) == "[["
        self.i += 2 if is_array else 1
        keys = self.key()
        self.i += 2 if is_array else 1
        path: KeyPath = ()
        for n, (name, at) in enumerate(keys):
            path = (*path, name)
            last = n == len(keys) - 1
            if last and is_array:
                count = self.array_tables.get(path, 0)
                self.array_tables[path] = count + 1
                self.record(path, at)
                path = (*path, count)
            elif path in self.array_tables:
                path = (*path, self.array_tables[path] - 1)
            self.record(path, at)
        return path

    def keyval(self, prefix: KeyPath, table: KeyPath) -> KeyPath:
        """Read ``key = value`` under prefix; return the current table (unchanged)."""
        path = prefix
        for name, at in self.key():
            path = (*path, name)
            self.record(path, at)
        self.skip_space()
        if self.peek() == "=":
            self.i += 1
            self.skip_space()
            self.value(path)
        return table

    def key(self) -> list[tuple[str, int]]:
        parts: list[tuple[str, int]] = []
        while True:
            self.skip_space()
            start = self.i
            parts.append((self.key_part(), start))
            self.skip_space()
            if self.peek() != ".":
                return parts
            self.i += 1

    def key_part(self) -> str:
        if self.peek() in ('"', "'"):
            start = self.i
            self.string()
            return str(tomllib.loads("k = " + self.text[start : self.i])["k"])
        match = _BARE_KEY.match(self.text, self.i)
        if match is None:
            raise ValueError("not a key")
        self.i = match.end()
        return match.group()

    # values ------------------------------------------------------------------
    def value(self, path: KeyPath) -> None:
        first = self.peek()
        if first in ('"', "'"):
            self.string()
        elif first == "[":
            self.array(path)
        elif first == "{":
            self.inline_table(path)
        else:
            self.scalar()

    def scalar(self) -> None:
        while not self.at_end() and self.text[self.i] not in _SCALAR_END:
            self.i += 1

    def array(self, path: KeyPath) -> None:
        self.i += 1
        index = 0
        while True:
            self.skip_blank()
            if self.at_end() or self.peek() == "]":
                self.i += 1
                return
            before = self.i
            self.record((*path, index), self.i)
            self.value((*path, index))
            index += 1
            self.skip_blank()
            if self.peek() == ",":
                self.i += 1
            elif self.i == before:
                raise ValueError("stuck in an array")

    def inline_table(self, path: KeyPath) -> None:
        self.i += 1
        while True:
            self.skip_blank()
            if self.at_end() or self.peek() == "}":
                self.i += 1
                return
            before = self.i
            self.keyval(path, path)
            self.skip_blank()
            if self.peek() == ",":
                self.i += 1
            elif self.i == before:
                raise ValueError("stuck in an inline table")

    def string(self) -> None:
        quote = self.peek()
        if self.peek(3) == quote * 3:
            self.multiline_string(quote)
        else:
            self.single_line_string(quote)

    def single_line_string(self, quote: str) -> None:
        self.i += 1
        while not self.at_end() and self.text[self.i] not in (quote, "\n"):
            self.i += 2 if quote == '"' and self.text[self.i] == "\\" else 1
        self.i += 1

    def multiline_string(self, quote: str) -> None:
        self.i += 3
        delimiter = quote * 3
        while not self.at_end() and self.peek(3) != delimiter:
            self.i += 2 if quote == '"' and self.text[self.i] == "\\" else 1
        self.i += 3
        extra = 0
        while extra < 2 and self.peek() == quote:
            self.i += 1
            extra += 1
