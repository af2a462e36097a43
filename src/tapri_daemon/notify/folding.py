"""Folding repeats: at most one message per (notifier, event kind, workflow) per min_interval.

Pure: every method takes ``now``. The policy:

- The first event of a key is sent at once and opens a window of ``min_interval``.
- Repeats inside the window are held (only the count and the latest event are kept).
- When the window closes with repeats held, one summary goes out ("N more like this in
  the last X", with the latest event) and a new window opens, so a steady storm yields
  one summary per interval. A window that closes with nothing held just ends.
- On shutdown, ``flush`` hands out every held summary at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from tapri_daemon.interfaces import Event, EventKind

FoldKey = tuple[str, EventKind, str]
"""(notifier name, event kind, workflow)."""


@dataclass(frozen=True, kw_only=True)
class Summary:
    """Repeats held during one window, to be sent as one message."""

    key: FoldKey
    count: int
    latest: Event
    window: timedelta


@dataclass(kw_only=True)
class _Window:
    ends: datetime
    interval: timedelta
    held: int = 0
    latest: Event | None = None


def key_of(notifier: str, event: Event) -> FoldKey:
    return (notifier, event.kind, event.workflow)


class Folder:
    """The open windows, by key."""

    def __init__(self) -> None:
        self._windows: dict[FoldKey, _Window] = {}

    def offer(self, key: FoldKey, event: Event, interval: timedelta | None, now: datetime) -> bool:
        """True: send this event now. False: it was held and will be counted in a summary."""
        if not interval or interval <= timedelta(0):
            return True
        window = self._windows.get(key)
        if window is None or window.ends <= now:
            self._windows[key] = _Window(ends=now + interval, interval=interval)
            return True
        window.held += 1
        window.latest = event
        return False

    def held(self, key: FoldKey) -> int:
        window = self._windows.get(key)
        return window.held if window else 0

    def next_due(self) -> datetime | None:
        """When the earliest open window closes."""
        return min((w.ends for w in self._windows.values()), default=None)

    def due(self, now: datetime) -> list[Summary]:
        """Close the windows that ended by ``now``; summaries for those that held repeats."""
        summaries: list[Summary] = []
        for key, window in list(self._windows.items()):
            if window.ends > now:
                continue
            if window.held and window.latest is not None:
                summaries.append(_summary(key, window, window.latest))
                self._windows[key] = _Window(ends=now + window.interval, interval=window.interval)
            else:
                del self._windows[key]
        return summaries

    def flush(self) -> list[Summary]:
        """Every held summary, now (shutdown); all windows are forgotten."""
        summaries = [
            _summary(key, w, w.latest)
            for key, w in self._windows.items()
            if w.held and w.latest is not None
        ]
        self._windows.clear()
        return summaries


def _summary(key: FoldKey, window: _Window, latest: Event) -> Summary:
    return Summary(key=key, count=window.held, latest=latest, window=window.interval)
