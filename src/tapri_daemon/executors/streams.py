"""An attempt's stdout and stderr on their way into its log: the sink, and the daemon reading
both pipes itself.

``Sink`` is where the bytes go, whoever reads the pipes: a secret masker per stream, the
capped log (``LogCapture``) and, for stdout, the last line. ``Pipes`` reads the two read ends
on event-loop callbacks in 64 KiB chunks. ``relay.Relayed`` feeds a sink the same way from a
relay process (see outlets.py for who reads which attempt's pipes).

``finish()`` is called once the attempt's processes are gone: whatever the pipes already
hold (at most ``DRAIN_LIMIT`` bytes per stream) goes in without waiting for end-of-file, so
a grandchild still holding stdout cannot hang the attempt; then the pipes are closed and the
log is completed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Sequence
from typing import Protocol

from tapri_daemon.executors.capture import LastLine, LogCapture, Masker
from tapri_daemon.executors.relayd import CHUNK, DRAIN_LIMIT

STDOUT, STDERR = 0, 1
_BURST = 16


class Streams(Protocol):
    """Someone reading an attempt's two pipes into its sink."""

    async def finish(self) -> None:
        """Take what the pipes hold, close them, complete the log."""


class Sink:
    """Masks each stream, writes both into the log, keeps stdout's last line."""

    def __init__(self, capture: LogCapture, secrets: Sequence[str], last: LastLine | None) -> None:
        self._capture = capture
        self._maskers = (Masker(secrets), Masker(secrets))
        self._last = last

    def feed(self, stream: int, data: bytes) -> None:
        masked = self._maskers[stream].feed(data)
        self._capture.write(masked)
        if stream == STDOUT and self._last is not None:
            self._last.feed(masked)

    def flush(self) -> None:
        """Write the log's pending head now (after a burst of reads)."""
        self._capture.flush()

    def close(self) -> None:
        for stream, masker in enumerate(self._maskers):
            rest = masker.flush()
            self._capture.write(rest)
            if stream == STDOUT and self._last is not None:
                self._last.feed(rest)
        if self._last is not None:
            self._last.finish()
        self._capture.close()


class Pipes:
    """The daemon reads both pipes itself: two descriptors while the attempt runs."""

    def __init__(self, sink: Sink, fds: tuple[int, int]) -> None:
        self._loop = asyncio.get_running_loop()
        self._sink = sink
        self._fds = fds
        self._open = set(fds)
        for fd in fds:
            os.set_blocking(fd, False)
            self._loop.add_reader(fd, self._readable, fd)

    def _readable(self, fd: int) -> None:
        try:
            for _ in range(_BURST):
                data = os.read(fd, CHUNK)
                if not data:
                    self._stop(fd)
                    break
                self._sink.feed(self._fds.index(fd), data)
        except BlockingIOError:
            pass
        except OSError:
            self._stop(fd)
        self._sink.flush()

    def _stop(self, fd: int) -> None:
        if fd in self._open:
            self._open.discard(fd)
            self._loop.remove_reader(fd)

    def _drain(self, stream: int, fd: int) -> None:
        budget = DRAIN_LIMIT
        with contextlib.suppress(OSError):
            while budget > 0:
                data = os.read(fd, CHUNK)
                if not data:
                    return
                budget -= len(data)
                self._sink.feed(stream, data)

    async def finish(self) -> None:
        for stream, fd in enumerate(self._fds):
            if fd in self._open:
                self._drain(stream, fd)
            self._stop(fd)
            os.close(fd)
        self._sink.close()
