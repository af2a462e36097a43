"""Task output capture: one capped log file per attempt, secrets masked, the last line kept.

Memory per attempt is bounded whatever a task prints: bytes arrive in chunks of at most
64 KiB; the head of the log is written straight to the file (opened, appended, closed per
write, so a running attempt holds no log descriptor), the tail lives in a ring buffer of
fixed size, and the last stdout line is kept up to the output limit only.

The file (folders 0750, file 0640) is created by the first write: an attempt that printed
nothing and has no note has no log file (creating a file costs about a millisecond on a
journaling file system, more than spawning ``true``).

The log keeps the first ``limit // 2`` bytes and the last ``limit - limit // 2 - 128``;
between them one marker line says how many bytes were dropped. Bytes are written as they
came (NUL, invalid UTF-8, terminal escapes included): the log is a byte file, never parsed.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence

MASK = b"***"
NOTE = b"[tapri] "
_MARKER_RESERVE = 128
_WRITE_AT = 1 << 16
_LOG_MODE = 0o640
_DIR_MODE = 0o750


class Masker:
    """Replaces secret values in a byte stream, also when one is split across chunks.

    The last ``longest secret - 1`` bytes of what arrived are held back until more comes
    (or ``flush``), so a secret whose first half ends one chunk is still caught.
    """

    def __init__(self, secrets: Sequence[str]) -> None:
        values = sorted({s.encode() for s in secrets if s}, key=len, reverse=True)
        self._pattern = re.compile(b"|".join(re.escape(v) for v in values)) if values else None
        self._keep = max((len(v) for v in values), default=1) - 1
        self._pending = b""

    def feed(self, data: bytes) -> bytes:
        if self._pattern is None:
            return data
        buf = self._pending + data
        limit = len(buf) - self._keep
        parts: list[bytes] = []
        pos = 0
        for match in self._pattern.finditer(buf):
            if match.start() >= limit:
                break
            parts += (buf[pos : match.start()], MASK)
            pos = match.end()
        cut = max(pos, limit)
        parts.append(buf[pos:cut])
        self._pending = buf[cut:]
        return b"".join(parts)

    def flush(self) -> bytes:
        if self._pattern is None:
            return b""
        rest, self._pending = self._pending, b""
        return self._pattern.sub(MASK, rest)


class LastLine:
    """The last non-empty line of a stream, kept up to ``limit`` bytes (longer: ``over``)."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._current = bytearray()
        self._current_over = False
        self.line: bytes | None = None
        self.over = False

    def feed(self, data: bytes) -> None:
        newline = data.rfind(b"\n")
        if newline < 0:
            self._extend(data)
            return
        self._take_last(data, newline)
        self._current.clear()
        self._current_over = False
        self._extend(data[newline + 1 :])

    def finish(self) -> None:
        if self._current_over or self._current.strip():
            self._set(bytes(self._current), self._current_over)
        self._current.clear()

    def _take_last(self, data: bytes, end: int) -> None:
        while True:
            start = data.rfind(b"\n", 0, end) + 1
            segment = data[start:end]
            if start == 0:
                if segment.strip() or self._current_over or self._current.strip():
                    over = self._current_over or len(self._current) + len(segment) > self._limit
                    self._set(bytes(self._current) + segment[: self._limit + 1], over)
                return
            if segment.strip():
                self._set(segment, len(segment) > self._limit)
                return
            end = start - 1

    def _extend(self, data: bytes) -> None:
        room = self._limit + 1 - len(self._current)
        if len(data) > room:
            self._current_over = True
        self._current += data[: max(room, 0)]

    def _set(self, line: bytes, over: bool) -> None:
        self.over = over
        self.line = None if over else line.strip()


class LogCapture:
    """One attempt's log file: head written through, tail in a ring, dropped bytes noted."""

    def __init__(self, path: str, limit: int) -> None:
        self.path = path
        self._head_room = max(limit // 2, 0)
        self._tail_cap = max(limit - self._head_room - _MARKER_RESERVE, 0)
        self._pending = bytearray()
        self._ring: bytearray | None = None
        self._ring_pos = 0
        self._ring_len = 0
        self.dropped = 0
        self.total = 0
        self.error: str | None = None
        self._notes: list[bytes] = []
        self._last_newline = True
        self._created = False

    def write(self, data: bytes) -> None:
        if not data:
            return
        self.total += len(data)
        self._last_newline = data.endswith(b"\n")
        if self._head_room > 0:
            head = data[: self._head_room]
            self._pending += head
            self._head_room -= len(head)
            data = data[len(head) :]
        if data:
            self._to_ring(data)
        if len(self._pending) >= _WRITE_AT:
            self.flush()

    def note(self, text: str) -> None:
        """A line of tapri's own (a timeout, a kill): written last, kept even past the cap."""
        self._notes.append(NOTE + text.encode("utf-8", "replace") + b"\n")

    def flush(self) -> None:
        if self._pending:
            data, self._pending = bytes(self._pending), bytearray()
            self._append(data)

    def close(self) -> None:
        self.flush()
        marker = b"\n[tapri: %d bytes dropped]\n" % self.dropped if self.dropped else b""
        notes = b"".join(self._notes)
        if notes and self.total and not self._last_newline:
            notes = b"\n" + notes
        parts: list[bytes | memoryview] = [marker, *self._tail(), notes]
        if any(parts):
            self._append(*parts)

    def _to_ring(self, data: bytes) -> None:
        cap = self._tail_cap
        if cap == 0:
            self.dropped += len(data)
            return
        if self._ring is None:
            self._ring = bytearray(cap)
        size = len(data)
        if size >= cap:
            self.dropped += self._ring_len + size - cap
            self._ring[:] = data[size - cap :]
            self._ring_pos, self._ring_len = 0, cap
            return
        self.dropped += max(self._ring_len + size - cap, 0)
        self._ring_len = min(self._ring_len + size, cap)
        first = min(size, cap - self._ring_pos)
        self._ring[self._ring_pos : self._ring_pos + first] = data[:first]
        self._ring[: size - first] = data[first:]
        self._ring_pos = (self._ring_pos + size) % cap

    def _tail(self) -> list[memoryview]:
        """The ring's bytes in order, as views (no copy of a ring that may be megabytes)."""
        if self._ring is None or self._ring_len == 0:
            return []
        view = memoryview(self._ring)
        if self._ring_len < self._tail_cap:
            return [view[: self._ring_len]]
        return [view[self._ring_pos :], view[: self._ring_pos]]

    def _open(self) -> int:
        if self._created:
            return os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)
        os.makedirs(os.path.dirname(self.path) or ".", mode=_DIR_MODE, exist_ok=True)
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC
        fd = os.open(self.path, flags, _LOG_MODE)
        os.fchmod(fd, _LOG_MODE)
        self._created = True
        return fd

    def _append(self, *parts: bytes | memoryview) -> None:
        if self.error is not None:
            return
        try:
            fd = self._open()
        except OSError as exc:
            self.error = f"cannot write the log {self.path}: {exc.strerror}"
            return
        try:
            for part in parts:
                _write_all(fd, part)
        except OSError as exc:
            self.error = f"cannot write the log {self.path}: {exc.strerror}"
        finally:
            os.close(fd)


def _write_all(fd: int, data: bytes | memoryview) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
