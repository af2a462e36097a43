"""The precise Clock: a coarse event-loop sleep, then a short spin on the wall clock.

``sleep_until(T)`` sleeps with anyio until ``T - spin_window`` (re-reading the wall clock
after each sleep, because the loop sleeps on the monotonic clock and the wall clock may be
stepped meanwhile), then spins on ``time.time_ns()`` until T without yielding. It never
returns before T. The spin holds the event loop for at most ``spin_window`` (plus whatever
the coarse wake-up was early by, which epoll's millisecond rounding keeps at zero).

The GIL: a thread that wants the interpreter back waits up to ``sys.getswitchinterval()``
(5 ms by default) while another thread computes. From ``T - guard_window`` until T returns,
the switch interval is lowered to ``switch_interval`` (default 20 µs) so the loop thread
gets the GIL back at once, and restored afterwards. Sync python tasks run in worker
subprocesses (executors), so only the daemon's own threads (aiosqlite, anyio workers)
compete; those mostly wait on I/O with the GIL released.

CPU scheduling: on a loaded machine the loop thread may wait for a CPU after the coarse
wake-up. When the process may (root, ``CAP_SYS_NICE`` or ``RLIMIT_RTPRIO`` > 0, e.g. systemd's
``LimitRTPRIO=``), the loop thread runs ``SCHED_FIFO`` from ``T - guard_window`` until
``hold`` after T (long enough to spawn the fired processes), with ``SCHED_RESET_ON_FORK`` so
every child and thread it creates runs with the normal policy. Without permission this is
skipped quietly (``PreciseClock.realtime`` tells which).

``clock_health()`` reads the kernel's NTP state with ``adjtimex(2)`` (modes = 0: read only,
no privilege needed): the unsynchronised flag and the estimated error.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import anyio

from tapri_daemon.clocks import SystemClock

SPIN_WINDOW_NS = 2_000_000
"""Spin the last 2 ms: epoll wakes with millisecond granularity, never early."""
GUARD_WINDOW_NS = 200_000_000
"""From this long before the instant the loop thread runs real-time (where allowed) with a
short GIL switch interval. 200 ms, not less: under load a normal-priority loop wakes tens of
ms late, and it must already be elevated when it does (bench/precise_fire.py --guard-ms)."""
SWITCH_INTERVAL = 20e-6
HOLD_S = 0.02
"""Keep the real-time policy this long after the instant (spawning the fired processes)."""
RT_PRIORITY = 10

STA_UNSYNC = 0x0040
TIME_ERROR = 5


def to_ns(instant: datetime) -> int:
    """An aware datetime as ns since the epoch, exactly (no float rounding)."""
    delta = instant - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000


@contextlib.contextmanager
def switch_interval(seconds: float) -> Iterator[None]:
    """Temporarily set ``sys.setswitchinterval`` (restored even on cancellation)."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(min(before, seconds))
    try:
        yield
    finally:
        sys.setswitchinterval(before)


def spin_until_ns(target_ns: int) -> int:
    """Busy-wait until ``time.time_ns() >= target_ns``; return the time read at exit."""
    now = time.time_ns()
    while now < target_ns:
        now = time.time_ns()
    return now


class Elevation:
    """Reference-counted SCHED_FIFO for the daemon's threads; a no-op when refused.

    The calling (loop) thread gets ``priority``; the daemon's own helper threads (aiosqlite,
    waitpid watchers: ``RAISED_THREADS``) get ``priority - 1``: a helper holding the GIL must
    not be preempted by busy task processes while the loop thread waits for the GIL
    (priority inversion through the GIL). Threads started meanwhile keep the normal policy
    (SCHED_RESET_ON_FORK).
    """

    def __init__(self, priority: int = RT_PRIORITY) -> None:
        self.priority = priority
        self.depth = 0
        self.available: bool | None = None
        """None until tried; False once the kernel refused."""
        self._raised: list[int] = []

    def enter(self) -> None:
        self.depth += 1
        if self.depth == 1 and self.available is not False:
            self.available = _set_policy(0, _FIFO, self.priority)
            if self.available:
                self._raised = _raise_others(self.priority - 1)

    def exit(self) -> None:
        self.depth = max(0, self.depth - 1)
        if self.depth == 0 and self.available:
            for tid in self._raised:
                _set_policy(tid, os.SCHED_OTHER, 0)
            self._raised = []
            _set_policy(0, os.SCHED_OTHER, 0)


_FIFO = getattr(os, "SCHED_FIFO", 1) | getattr(os, "SCHED_RESET_ON_FORK", 0x40000000)


def _set_policy(tid: int, policy: int, priority: int) -> bool:
    try:
        os.sched_setscheduler(tid, policy, os.sched_param(priority))
    except (OSError, AttributeError):
        return False
    return True


RAISED_THREADS = ("tapri-", "_connection_worker_thread")
"""Name parts of the daemon's own short-running threads raised with the loop thread: the
executors' ``tapri-wait-PID`` watchers and aiosqlite's connection threads. Other threads
(CPU-bound threads an ``async def`` task may start, anyio workers parsing a reload) keep
the normal policy: as real-time threads they would out-compete the loop for the GIL."""


def _raise_others(priority: int) -> list[int]:
    """Give the daemon's own helper threads the real-time policy; return their ids."""
    me = threading.get_native_id()
    raised = []
    for thread in threading.enumerate():
        tid = thread.native_id
        if tid is None or tid == me or not any(p in thread.name for p in RAISED_THREADS):
            continue
        if _set_policy(tid, _FIFO, max(1, priority)):
            raised.append(tid)
    return raised


class PreciseClock(SystemClock):
    """Implements ``interfaces.Clock``; ``sleep_until`` is accurate to tens of µs."""

    def __init__(
        self,
        *,
        spin_window_ns: int = SPIN_WINDOW_NS,
        guard_window_ns: int = GUARD_WINDOW_NS,
        switch_interval: float = SWITCH_INTERVAL,
        realtime: bool = True,
        hold: float = HOLD_S,
    ) -> None:
        self.spin_window_ns = spin_window_ns
        self.guard_window_ns = guard_window_ns
        self.switch_interval = switch_interval
        self.hold = hold
        self.elevation = Elevation() if realtime else None

    @property
    def realtime(self) -> bool:
        """Whether the loop thread could take the real-time policy (None counts as no)."""
        return bool(self.elevation and self.elevation.available)

    async def sleep_until(self, instant: datetime) -> None:
        await self.sleep_until_ns(to_ns(instant))

    async def sleep_until_ns(self, target_ns: int) -> int:
        """Return at ``target_ns`` or just after (never before); the time read at return."""
        await self._coarse(target_ns - self.guard_window_ns)
        with self._elevated(), switch_interval(self.switch_interval):
            await self._coarse(target_ns - self.spin_window_ns)
            return spin_until_ns(target_ns)

    @contextlib.contextmanager
    def _elevated(self) -> Iterator[None]:
        elevation = self.elevation
        if elevation is None:
            yield
            return
        elevation.enter()
        try:
            yield
        except BaseException:
            elevation.exit()
            raise
        asyncio.get_running_loop().call_later(self.hold, elevation.exit)

    @staticmethod
    async def _coarse(until_ns: int) -> None:
        while (left := until_ns - time.time_ns()) > 0:  # noqa: ASYNC110
            await anyio.sleep(left / 1e9)


@dataclass(frozen=True, kw_only=True)
class ClockHealth:
    """The kernel's view of the wall clock (adjtimex, read only)."""

    synchronised: bool
    esterror_us: int
    maxerror_us: int
    state: int
    """adjtimex's return: 0 TIME_OK … 5 TIME_ERROR (unsynchronised)."""

    def acceptable(self, max_error_us: int) -> bool:
        return self.synchronised and self.esterror_us <= max_error_us


class _Timeval(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_usec", ctypes.c_long)]


class _Timex(ctypes.Structure):
    """glibc's ``struct timex`` (208 bytes on 64-bit Linux)."""

    _fields_ = [
        ("modes", ctypes.c_uint),
        ("offset", ctypes.c_long),
        ("freq", ctypes.c_long),
        ("maxerror", ctypes.c_long),
        ("esterror", ctypes.c_long),
        ("status", ctypes.c_int),
        ("constant", ctypes.c_long),
        ("precision", ctypes.c_long),
        ("tolerance", ctypes.c_long),
        ("time", _Timeval),
        ("tick", ctypes.c_long),
        ("ppsfreq", ctypes.c_long),
        ("jitter", ctypes.c_long),
        ("shift", ctypes.c_int),
        ("stabil", ctypes.c_long),
        ("jitcnt", ctypes.c_long),
        ("calcnt", ctypes.c_long),
        ("errcnt", ctypes.c_long),
        ("stbcnt", ctypes.c_long),
        ("tai", ctypes.c_int),
        ("_reserved", ctypes.c_int * 11),
    ]


def health_from(state: int, status: int, esterror: int, maxerror: int) -> ClockHealth:
    """Interpret adjtimex's return value and fields (pure, for tests)."""
    synchronised = state != TIME_ERROR and not status & STA_UNSYNC
    return ClockHealth(
        synchronised=synchronised, esterror_us=esterror, maxerror_us=maxerror, state=state
    )


def clock_health() -> ClockHealth | None:
    """Read the kernel clock state; None when adjtimex is unavailable or refused."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        timex = _Timex()
        state = int(libc.adjtimex(ctypes.byref(timex)))
    except (OSError, AttributeError):
        return None
    if state < 0:
        return None
    return health_from(state, timex.status, timex.esterror, timex.maxerror)
