"""The engine's settings and the seams it works through."""

from __future__ import annotations

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
