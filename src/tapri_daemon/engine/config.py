"""The engine's settings and the seams it works through."""

from __future__ import annotations

import gc
import random
from dataclasses import dataclass, field
from pathlib import Path

from tapri_daemon.engine.limits import Pools, Slots
from tapri_daemon.engine.templates import Renderer
from tapri_daemon.interfaces import Clock, Event, Executor, Notifier, Store


@dataclass(frozen=True, kw_only=True)
class EngineConfig:
    log_dir: Path
    """Attempt logs go to <log_dir>/<workflow>/<run_id>/<task>.<attempt>.log."""
    max_parallel_tasks: int = 32
    """Tasks running at once across every run of this engine."""
    python_path: tuple[str, ...] = ()
    default_timezone: str = "UTC"
    """For workflows that name no timezone."""
    daemon_id: str | None = None
    credentials_dir: Path | None = None
    """Where ${cred:NAME} files are ($CREDENTIALS_DIRECTORY); None reads the environment."""


GC_THRESHOLDS = (50_000, 20, 100)


def tune_gc() -> None:
    """Process policy for a composition root, called once definitions are loaded.

    ``gc.freeze()`` moves everything alive now (the loaded definitions, imported modules)
    out of the collector's way, and a higher generation-0 threshold makes collections
    rarer while thousands of tasks allocate their small records. Together they cut the
    engine's CPU per task by about a quarter (bench/engine_throughput.py --gc tuned).
    """
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


class NullNotifier:
    """A Notifier that drops every event (for `tapri run` until notify is wired in)."""

    async def notify(self, event: Event) -> None:
        return None


@dataclass(frozen=True, kw_only=True)
class Services:
    """What every run of one engine shares."""

    config: EngineConfig
    store: Store
    executor: Executor
    clock: Clock
    notifier: Notifier
    slots: Slots
    pools: Pools
    renderer: Renderer = field(default_factory=Renderer)
    rng: random.Random = field(default_factory=random.Random)
