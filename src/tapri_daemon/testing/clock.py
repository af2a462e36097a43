"""FakeClock: a Clock whose time moves only when a test (or ``autojump``) moves it.

    clock = FakeClock(datetime(2025, 1, 6, 9, tzinfo=UTC))
    async with clock.autojump():          # time jumps to the next sleeper when all tasks wait
        await engine.execute(run_id)
    assert clock.sleeps == [30.0, 60.0]   # the delays that were slept through clock.sleep

Without ``autojump`` time moves only when a test calls ``advance`` / ``advance_to``.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import anyio

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
        self._start_ns = to_ns(self._start)
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
        await self._sleep_until_ns(to_ns(instant))

    # -- moving time ----------------------------------------------------------------------
    def advance(self, seconds: float) -> None:
        """Move time forward and wake, in deadline order, every sleeper now due."""
        if seconds < 0:
            raise ValueError("time does not go backwards")
        self._set_ns(self.time_ns() + round(seconds * _NS))

    def advance_to(self, instant: datetime) -> None:
        self._set_ns(max(self.time_ns(), to_ns(instant)))

    @property
    def next_deadline(self) -> datetime | None:
        """When the earliest sleeper wakes, or None when nobody sleeps."""
        deadline_ns = self._next_deadline_ns()
        return None if deadline_ns is None else from_ns(deadline_ns)

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


def to_ns(instant: datetime) -> int:
    if instant.tzinfo is None:
        raise ValueError(f"naive datetime {instant!r}: the clock needs aware instants")
    delta = instant - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * _NS + delta.microseconds * 1000


def from_ns(ns: int) -> datetime:
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
