"""RecordingNotifier: keeps every event it is handed."""

from __future__ import annotations

from tapri_daemon.interfaces import Event, EventKind


class RecordingNotifier:
    """A Notifier that keeps every event it is handed."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    async def notify(self, event: Event) -> None:
        self.events.append(event)

    def kinds(self) -> list[EventKind]:
        return [e.kind for e in self.events]

    def of(self, kind: EventKind) -> list[Event]:
        return [e for e in self.events if e.kind == kind]
