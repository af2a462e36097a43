"""Concurrency limits: the engine's ``max_parallel_tasks``, a run's ``max_active_tasks``
and ``[pool.NAME] slots`` (shared by every run). A task holds all that apply while it runs.

Slots are taken in one fixed order (pool, then workflow, then global) so two tasks can
never each hold what the other waits for. Waiters are served first come, first served.
Taking a free slot does not yield to the event loop, which keeps the hot path short.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Mapping, Sequence

from tapri_daemon.model import Pool


class Slots:
    """A counting semaphore whose size can change while it is in use (pools on reload)."""

    def __init__(self, total: int) -> None:
        self._total = total
        self._in_use = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def total(self) -> int:
        return self._total

    @total.setter
    def total(self, value: int) -> None:
        self._total = value
        self._wake()

    @property
    def in_use(self) -> int:
        return self._in_use

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    def try_acquire(self) -> bool:
        if self._in_use < self._total and not self._waiters:
            self._in_use += 1
            return True
        return False

    async def acquire(self) -> None:
        if self.try_acquire():
            return
        # A bare future (the store is aiosqlite, so the engine runs on asyncio): cheaper
        # than an Event for the thousands of tasks a wide fan-out parks here.
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self.release()  # a slot was handed over just as we were cancelled
            else:
                with contextlib.suppress(ValueError):  # _wake may have dropped it already
                    self._waiters.remove(waiter)
            raise

    def release(self) -> None:
        self._in_use -= 1
        self._wake()

    def _wake(self) -> None:
        while self._waiters and self._in_use < self._total:
            waiter = self._waiters.popleft()
            if not waiter.done():
                self._in_use += 1
                waiter.set_result(None)


async def acquire_all(slots: Sequence[Slots]) -> None:
    """Take every slot in order; on cancellation give back what was taken."""
    taken = 0
    try:
        for one in slots:
            await one.acquire()
            taken += 1
    except BaseException:
        release_all(slots[:taken])
        raise


def release_all(slots: Sequence[Slots]) -> None:
    for one in reversed(slots):
        one.release()


class Pools:
    """The engine's pools by name, resized in place when definitions are reloaded."""

    def __init__(self) -> None:
        self._slots: dict[str, Slots] = {}

    def update(self, pools: Mapping[str, Pool]) -> None:
        for name, pool in pools.items():
            if name in self._slots:
                self._slots[name].total = pool.slots
            else:
                self._slots[name] = Slots(pool.slots)

    def get(self, name: str | None) -> Slots | None:
        return None if name is None else self._slots.get(name)
