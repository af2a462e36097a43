"""A real Engine wired to the fakes, and definitions built from plain dicts."""

from __future__ import annotations

import random
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tapri_daemon.interfaces import AttemptRecord, RunRecord, TaskRecord, Trigger
from tapri_daemon.model import Definitions
from tapri_daemon.store.memory import MemoryStore
from tapri_daemon.testing.clock import FakeClock
from tapri_daemon.testing.executor import FakeExecutor, Handler
from tapri_daemon.testing.notifier import RecordingNotifier


def definitions_of(
    tasks: Mapping[str, Mapping[str, Any]],
    *,
    workflow: str = "w",
    pools: Mapping[str, int] | None = None,
    defaults: Mapping[str, Any] | None = None,
    **settings: Any,
) -> Definitions:
    """Definitions with one workflow built from plain dicts, as a TOML file would give."""
    return Definitions.model_validate(
        {
            "defaults": dict(defaults or {}),
            "pool": {name: {"slots": slots} for name, slots in (pools or {}).items()},
            "workflow": {workflow: {**settings, "task": dict(tasks)}},
        }
    )


class EngineHarness:
    """A real Engine on FakeClock, MemoryStore, FakeExecutor and RecordingNotifier."""

    def __init__(
        self,
        definitions: Definitions,
        handler: Handler | None = None,
        *,
        log_dir: Path,
        start: datetime = datetime(2026, 1, 5, 9, 30, tzinfo=UTC),
        max_parallel_tasks: int = 32,
        seed: int = 7,
        store: MemoryStore | None = None,
    ) -> None:
        from tapri_daemon.engine import Engine, EngineConfig

        self.clock = FakeClock(start)
        self.store = store or MemoryStore()
        self.executor = FakeExecutor(handler, clock=self.clock)
        self.notifier = RecordingNotifier()
        config = EngineConfig(log_dir=log_dir, max_parallel_tasks=max_parallel_tasks)
        self.engine = Engine(
            config=config,
            store=self.store,
            executor=self.executor,
            clock=self.clock,
            notifier=self.notifier,
            definitions=definitions,
            rng=random.Random(seed),
        )

    async def create(self, workflow: str = "w", **kwargs: Any) -> RunRecord:
        kwargs.setdefault("logical_date", self.clock.now())
        kwargs.setdefault("trigger", Trigger.MANUAL)
        return await self.engine.create_run(workflow, **kwargs)

    async def run(
        self, workflow: str = "w", *, fire_at: datetime | None = None, **kwargs: Any
    ) -> RunRecord:
        """Create a run and execute it with the clock on autojump."""
        record = await self.create(workflow, **kwargs)
        async with self.clock.autojump():
            return await self.engine.execute(record.run_id, fire_at=fire_at)

    async def tasks(self, run_id: str) -> dict[str, TaskRecord]:
        return {t.task_id: t for t in await self.store.get_tasks(run_id)}

    async def states(self, run_id: str) -> dict[str, str]:
        return {t: str(r.state) for t, r in (await self.tasks(run_id)).items()}

    async def attempts(self, run_id: str, task_id: str) -> list[AttemptRecord]:
        found = await self.store.get_attempts(run_id, task_id)
        return sorted(found, key=lambda a: a.attempt)
