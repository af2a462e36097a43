"""Fakes for every seam, for tests: FakeClock, FakeExecutor, RecordingNotifier, MemoryStore.

    clock = FakeClock(datetime(2025, 1, 6, 9, tzinfo=UTC))
    async with clock.autojump():          # time jumps to the next sleeper when all tasks wait
        await engine.execute(run_id)
    assert clock.sleeps == [30.0, 60.0]   # the delays that were slept through clock.sleep

Without ``autojump`` time moves only when a test calls ``advance`` / ``advance_to``.
"""

from __future__ import annotations

import asyncio
import heapq
import inspect
import itertools
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeAlias

import anyio

from tapri_daemon.clocks import SystemClock
from tapri_daemon.interfaces import (
    JSON,
    AttemptObserver,
    AttemptRecord,
    AttemptRequest,
    AttemptResult,
    Clock,
    Event,
    EventKind,
    Outcome,
    ProcessInfo,
    RunRecord,
    TaskRecord,
    Trigger,
)
from tapri_daemon.model import Definitions
from tapri_daemon.store.memory import MemoryStore

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

_NS = 1_000_000_000
_IDLE_ROUNDS = 3


@dataclass(order=True)
class _Sleeper:
    deadline_ns: int
    seq: int
    event: anyio.Event = field(compare=False)


class FakeClock:
    """A Clock whose time moves only by ``advance``/``advance_to`` or in ``autojump`` mode."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("FakeClock needs an aware start datetime")
        self._start = start.astimezone(UTC)
        self._start_ns = _to_ns(self._start)
        self._elapsed_ns = 0
        self._sleepers: list[_Sleeper] = []
        self._seq = itertools.count()
        self.sleeps: list[float] = []
        """Every delay passed to ``sleep``, in call order."""
        self.waits: list[datetime] = []
        """Every instant passed to ``sleep_until``, in call order."""

    # -- the Clock protocol -------------------------------------------------------------
    def now(self) -> datetime:
        return self._start + timedelta(microseconds=self._elapsed_ns // 1000)

    def time_ns(self) -> int:
        return self._start_ns + self._elapsed_ns

    def monotonic(self) -> float:
        return self._elapsed_ns / _NS

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        await self._sleep_until_ns(self.time_ns() + max(0, round(seconds * _NS)))

    async def sleep_until(self, instant: datetime) -> None:
        self.waits.append(instant)
        await self._sleep_until_ns(_to_ns(instant))

    # -- moving time ----------------------------------------------------------------------
    def advance(self, seconds: float) -> None:
        """Move time forward and wake, in deadline order, every sleeper now due."""
        if seconds < 0:
            raise ValueError("time does not go backwards")
        self._set_ns(self.time_ns() + round(seconds * _NS))

    def advance_to(self, instant: datetime) -> None:
        self._set_ns(max(self.time_ns(), _to_ns(instant)))

    @property
    def next_deadline(self) -> datetime | None:
        """When the earliest sleeper wakes, or None when nobody sleeps."""
        deadline_ns = self._next_deadline_ns()
        return None if deadline_ns is None else _from_ns(deadline_ns)

    def _next_deadline_ns(self) -> int | None:
        self._drop_woken()
        return self._sleepers[0].deadline_ns if self._sleepers else None

    async def run_until_idle(self) -> None:
        """Return once every other task of the loop waits (on this clock or anything else)."""
        await _wait_idle()

    @asynccontextmanager
    async def autojump(self) -> AsyncIterator[FakeClock]:
        """While inside, jump to the next sleeper whenever every other task is blocked."""
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._jumper)
            try:
                yield self
            finally:
                tg.cancel_scope.cancel()

    # -- internals ----------------------------------------------------------------------
    async def _jumper(self) -> None:
        while True:
            await _wait_idle()
            deadline_ns = self._next_deadline_ns()
            if deadline_ns is None:
                await anyio.sleep(0.001)  # blocked on something real (a thread, a socket)
            else:
                self._set_ns(max(self.time_ns(), deadline_ns))

    async def _sleep_until_ns(self, deadline_ns: int) -> None:
        if deadline_ns <= self.time_ns():
            await anyio.lowlevel.checkpoint()
            return
        sleeper = _Sleeper(deadline_ns, next(self._seq), anyio.Event())
        heapq.heappush(self._sleepers, sleeper)
        try:
            await sleeper.event.wait()
        finally:
            sleeper.event.set()  # a cancelled sleeper counts as woken and is dropped

    def _set_ns(self, absolute_ns: int) -> None:
        self._elapsed_ns = absolute_ns - self._start_ns
        while self._sleepers and self._sleepers[0].deadline_ns <= absolute_ns:
            heapq.heappop(self._sleepers).event.set()

    def _drop_woken(self) -> None:
        while self._sleepers and self._sleepers[0].event.is_set():
            heapq.heappop(self._sleepers)


def _to_ns(instant: datetime) -> int:
    if instant.tzinfo is None:
        raise ValueError(f"naive datetime {instant!r}: the clock needs aware instants")
    delta = instant - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * _NS + delta.microseconds * 1000


def _from_ns(ns: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=ns // 1000)


def _others_blocked() -> bool:
    me = asyncio.current_task()
    loop = asyncio.get_running_loop()
    if getattr(loop, "_ready", ()):
        return False
    for task in asyncio.all_tasks():
        waiter = getattr(task, "_fut_waiter", None)
        if task is not me and (waiter is None or waiter.done()):
            return False
    return True


async def _wait_idle() -> None:
    """Loop until nothing but this task is runnable for a few rounds in a row."""
    quiet = 0
    while quiet < _IDLE_ROUNDS:
        await asyncio.sleep(0)
        quiet = quiet + 1 if _others_blocked() else 0


# -- executor ------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Failure:
    """What a FakeExecutor handler returns for a failed attempt with an exit code."""

    error: str = "failed"
    exit_code: int | None = None
    outcome: Outcome = Outcome.FAILED


HandlerResult: TypeAlias = AttemptResult | Failure | JSON
Handler: TypeAlias = Callable[[AttemptRequest], HandlerResult | Awaitable[HandlerResult]]


class FakeExecutor:
    """An Executor that calls ``handler(request)`` (sync or async) instead of running anything.

    The handler returns an AttemptResult (used as is), a ``Failure``, or any JSON value
    (a success with that output); an exception becomes Outcome.FAILED with its text. With a
    ``clock``, ``request.timeout`` is enforced on that clock (Outcome.TIMEOUT).

    A precise fire (``request.fire_at_ns``) is honoured like the real executors do: the
    engine hands it over early, the handler is called at the instant (``sleep_until`` on
    the clock, the real one without a clock) and the result's ``released_ns`` is that
    moment; an instant already past calls it at once.
    """

    def __init__(
        self,
        handler: Handler | None = None,
        *,
        clock: Clock | None = None,
        report_spawn: bool = False,
    ) -> None:
        self.handler: Handler = handler or (lambda _request: None)
        self.clock = clock
        self.report_spawn = report_spawn
        """Report a (made-up) process to the observer first, as process executors do, and,
        if the attempt is cancelled, that it was stopped (``observer.stopped(1)``)."""
        self.requests: list[AttemptRequest] = []
        self.running = 0
        self.peak = 0

    async def execute(self, request: AttemptRequest, observer: AttemptObserver) -> AttemptResult:
        self.requests.append(request)
        self.running += 1
        self.peak = max(self.peak, self.running)
        try:
            if self.report_spawn:
                pid = 10_000 + len(self.requests)
                info = ProcessInfo(pid=pid, pgid=pid, start_time=None, spawned_ns=self._ns())
                await observer.spawned(info)
            if request.fire_at_ns is not None:
                await self._release(request.fire_at_ns)
            started = self._ns()
            return self._finish(await self._outcome(request), started, request)
        except anyio.get_cancelled_exc_class():
            if self.report_spawn:
                observer.stopped(1)
            raise
        finally:
            self.running -= 1

    async def _release(self, fire_at_ns: int) -> None:
        """A precise fire: wait for its instant like a real executor (never before it)."""
        clock = self.clock or SystemClock()
        if clock.time_ns() < fire_at_ns:
            await clock.sleep_until(_from_ns(-(-fire_at_ns // 1000) * 1000))

    async def _outcome(self, request: AttemptRequest) -> HandlerResult:
        if self.clock is None or request.timeout is None:
            return await self._call(request)
        box: list[HandlerResult] = [Failure(error="timed out", outcome=Outcome.TIMEOUT)]
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._timer, request.timeout, tg.cancel_scope)
            box[0] = await self._call(request)
            tg.cancel_scope.cancel()
        return box[0]

    async def _timer(self, seconds: float, scope: anyio.CancelScope) -> None:
        assert self.clock is not None
        await self.clock.sleep(seconds)
        scope.cancel()

    async def _call(self, request: AttemptRequest) -> HandlerResult:
        try:
            value = self.handler(request)
            if inspect.isawaitable(value):
                value = await value
        except Exception as exc:
            return Failure(error=f"{type(exc).__name__}: {exc}")
        return value

    def _finish(self, value: HandlerResult, started: int, request: AttemptRequest) -> AttemptResult:
        if isinstance(value, AttemptResult):
            return value
        ended = self._ns()
        released = started if request.fire_at_ns is not None else None
        if isinstance(value, Failure):
            return AttemptResult(
                outcome=value.outcome,
                error=value.error,
                exit_code=value.exit_code,
                started_ns=started,
                ended_ns=ended,
                released_ns=released,
            )
        return AttemptResult(
            outcome=Outcome.SUCCESS,
            output=value,
            exit_code=0,
            started_ns=started,
            ended_ns=ended,
            released_ns=released,
        )

    def _ns(self) -> int:
        return self.clock.time_ns() if self.clock is not None else time.time_ns()

    def task_ids(self) -> list[str]:
        """The task ids of every request, in the order they started."""
        return [r.task_id for r in self.requests]


# -- notifier ------------------------------------------------------------------------------


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


# -- an engine wired to the fakes -------------------------------------------------------------


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


class NullObserver:
    """An AttemptObserver that ignores spawned processes (for calling executors directly)."""

    async def spawned(self, info: Any) -> None:
        return None

    def stopped(self, killed: int) -> None:
        return None
