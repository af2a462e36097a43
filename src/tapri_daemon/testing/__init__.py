"""Fakes for every seam, for tests: FakeClock, FakeExecutor, RecordingNotifier, MemoryStore.

    clock.py      FakeClock: time moves by ``advance`` / ``advance_to`` or ``autojump``
    executor.py   FakeExecutor (a handler instead of processes), Failure, NullObserver
    notifier.py   RecordingNotifier
    harness.py    EngineHarness (a real Engine on the fakes), definitions_of

MemoryStore (``store/memory.py``) is re-exported here with the rest.
"""

from tapri_daemon.store.memory import MemoryStore
from tapri_daemon.testing.clock import FakeClock
from tapri_daemon.testing.executor import Failure, FakeExecutor, NullObserver
from tapri_daemon.testing.harness import EngineHarness, definitions_of
from tapri_daemon.testing.notifier import RecordingNotifier

__all__ = [
    "EngineHarness",
    "Failure",
    "FakeClock",
    "FakeExecutor",
    "MemoryStore",
    "NullObserver",
    "RecordingNotifier",
    "definitions_of",
]
