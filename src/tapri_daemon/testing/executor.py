"""FakeExecutor (a handler instead of processes) and NullObserver."""

from __future__ import annotations

import inspect
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeAlias

import anyio

from tapri_daemon.clocks import SystemClock
from tapri_daemon.interfaces import (
    JSON,
    AttemptObserver,
    AttemptRequest,
    AttemptResult,
    Clock,
    Outcome,
    ProcessInfo,
)
from tapri_daemon.testing.clock import from_ns


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
            await clock.sleep_until(from_ns(-(-fire_at_ns // 1000) * 1000))

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


class NullObserver:
    """An AttemptObserver that ignores spawned processes (for calling executors directly)."""

    async def spawned(self, info: Any) -> None:
        return None

    def stopped(self, killed: int) -> None:
        return None
