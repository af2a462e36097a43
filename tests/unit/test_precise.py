"""The precise clock: never early, exact ns conversion, GIL switch interval restored,
adjtimex interpretation."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta

import anyio
import pytest

from tapri_daemon.daemon import precise
from tapri_daemon.daemon.precise import (
    STA_UNSYNC,
    ClockHealth,
    Elevation,
    PreciseClock,
    clock_health,
    health_from,
    spin_until_ns,
    switch_interval,
    to_ns,
)


def test_to_ns_is_exact() -> None:
    instant = datetime(2027, 1, 1, 10, 0, 0, 123456, tzinfo=UTC)
    assert to_ns(instant) == 1798797600_123456000
    assert to_ns(instant + timedelta(microseconds=1)) - to_ns(instant) == 1000


def test_spin_returns_at_or_after_the_target() -> None:
    target = time.time_ns() + 200_000
    assert spin_until_ns(target) >= target
    assert time.time_ns() >= target


async def test_sleep_until_is_never_early() -> None:
    clock = PreciseClock()
    for offset_ms in (0, 1, 3, 7):
        target = time.time_ns() + offset_ms * 1_000_000
        returned = await clock.sleep_until_ns(target)
        assert returned >= target
        assert time.time_ns() >= target


async def test_sleep_until_a_past_instant_returns_at_once() -> None:
    clock = PreciseClock()
    before = time.monotonic()
    await clock.sleep_until(clock.now() - timedelta(seconds=5))
    assert time.monotonic() - before < 0.5


async def test_switch_interval_is_lowered_around_the_instant_and_restored() -> None:
    before = sys.getswitchinterval()
    seen: list[float] = []
    clock = PreciseClock(guard_window_ns=50_000_000, switch_interval=1e-4)

    async def watch() -> None:
        seen.append(sys.getswitchinterval())

    async with anyio.create_task_group() as tg:
        tg.start_soon(clock.sleep_until_ns, time.time_ns() + 20_000_000)
        await anyio.sleep(0.005)  # inside the guard window: the sleeper lowered it
        tg.start_soon(watch)
    assert seen == [pytest.approx(1e-4)]
    assert sys.getswitchinterval() == before


async def test_cancelled_sleep_restores_the_switch_interval() -> None:
    before = sys.getswitchinterval()
    with anyio.move_on_after(0.01):
        await PreciseClock(guard_window_ns=10**9).sleep_until_ns(time.time_ns() + 10**9)
    assert sys.getswitchinterval() == before


def test_switch_interval_never_raises_the_setting() -> None:
    before = sys.getswitchinterval()
    with switch_interval(10.0):
        assert sys.getswitchinterval() == before


@pytest.mark.parametrize(
    ("state", "status", "esterror", "synchronised", "ok"),
    [
        (0, 0x2001, 200, True, True),  # TIME_OK, PLL + NANO, 200 µs
        (0, 0x2001, 50_000, True, False),  # synchronised but the error is too large
        (5, STA_UNSYNC, 16_000_000, False, False),  # TIME_ERROR, unsynchronised
        (0, STA_UNSYNC, 0, False, False),
    ],
)
def test_health_from_adjtimex_fields(
    state: int, status: int, esterror: int, synchronised: bool, ok: bool
) -> None:
    health = health_from(state, status, esterror, 16_000_000)
    assert health.synchronised is synchronised
    assert health.esterror_us == esterror
    assert health.acceptable(10_000) is ok


def test_clock_health_reads_the_kernel() -> None:
    health = clock_health()
    assert isinstance(health, ClockHealth)
    assert 0 <= health.state <= 5
    assert health.esterror_us >= 0


def test_timex_matches_glibc_size() -> None:
    import ctypes

    assert ctypes.sizeof(precise._Timex) == 208


def _policy() -> int:
    return os.sched_getscheduler(0) & ~getattr(os, "SCHED_RESET_ON_FORK", 0)


async def test_realtime_policy_held_around_the_instant_then_restored() -> None:
    clock = PreciseClock(hold=0.0)
    await clock.sleep_until_ns(time.time_ns() + 1_000_000)
    if not clock.realtime:
        pytest.skip("this process may not use SCHED_FIFO")
    assert _policy() == os.SCHED_FIFO
    child = subprocess.run(
        [sys.executable, "-c", "import os; print(os.sched_getscheduler(0))"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert int(child.stdout) == os.SCHED_OTHER  # SCHED_RESET_ON_FORK
    for _ in range(3):
        await anyio.sleep(0)
    assert _policy() == os.SCHED_OTHER


def test_elevation_is_reference_counted() -> None:
    elevation = Elevation()
    elevation.enter()
    elevation.enter()
    elevation.exit()
    if elevation.available:
        assert _policy() == os.SCHED_FIFO
    elevation.exit()
    assert _policy() == os.SCHED_OTHER


def test_elevation_raises_the_daemons_helper_threads_and_restores_them() -> None:
    stop = threading.Event()
    helper = threading.Thread(target=stop.wait, name="tapri-wait-1", daemon=True)
    other = threading.Thread(target=stop.wait, name="user thread", daemon=True)
    helper.start()
    other.start()
    assert helper.native_id is not None and other.native_id is not None
    elevation = Elevation()
    try:
        elevation.enter()
        if not elevation.available:
            pytest.skip("this process may not use SCHED_FIFO")
        policy = os.sched_getscheduler(helper.native_id) & ~os.SCHED_RESET_ON_FORK
        assert policy == os.SCHED_FIFO
        assert os.sched_getparam(helper.native_id).sched_priority == elevation.priority - 1
        assert os.sched_getscheduler(other.native_id) == os.SCHED_OTHER
    finally:
        elevation.exit()
        stop.set()
    assert os.sched_getscheduler(helper.native_id) == os.SCHED_OTHER
    helper.join()
    other.join()
