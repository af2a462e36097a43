"""Precise-mode lateness: how late after the instant T does a fired task start?

Three measurements, each printed as min / p50 / p99 / max in µs (lateness < 0 would be a bug):

1. clock   PreciseClock.sleep_until(T): the daemon's own part (coarse sleep + spin).
2. task    the real Engine + Dispatcher + SQLite store + PreciseClock: a precise workflow
           whose ``at_fire`` command task is ``true``; lateness is what the engine records
           (fire_actual_ns - fire_target_ns, the spawn moment of the process).
3. the same under load: 50 other tasks busy at the same time, run by the same engine
   (25 ``command`` tasks spinning a python loop, 25 sync ``python`` tasks spinning in
   their worker subprocesses, each with 2 extra CPU-bound threads).

Optionally (``--threads``) the worst case tapri avoids by design: CPU-bound python threads
inside the daemon process itself (sync python tasks never run there).

    python bench/precise_fire.py [--samples 100] [--threads]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio

from tapri_daemon import logs
from tapri_daemon.daemon.precise import PreciseClock, clock_health, to_ns
from tapri_daemon.engine.config import EngineConfig, NullNotifier
from tapri_daemon.engine.engine import Engine
from tapri_daemon.executors import Dispatcher
from tapri_daemon.interfaces import RunState, Trigger
from tapri_daemon.model import Definitions
from tapri_daemon.store.sqlite import SQLiteStore

BUSY_MODULE = """
import threading, time

def _spin():
    x = 0
    while True:
        x += 1

def spin():
    for _ in range(2):
        threading.Thread(target=_spin, daemon=True).start()
    _spin()
"""


class Probe:
    """Wraps the clock and the executor to split a fired task's lateness into parts."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.called_ns: dict[int, int] = {}
        """fire_at_ns -> when the engine called the executor."""

    async def execute(self, request: Any, observer: Any) -> Any:
        if request.fire_at_ns is not None:
            self.called_ns[request.fire_at_ns] = time.time_ns()
        return await self.inner.execute(request, observer)


class ProbedClock(PreciseClock):
    def __init__(self) -> None:
        super().__init__()
        self.returned_ns: dict[int, int] = {}
        """target ns -> when sleep_until returned."""

    async def sleep_until(self, instant: datetime) -> None:
        await super().sleep_until(instant)
        self.returned_ns[to_ns(instant)] = time.time_ns()


def summary(name: str, values: list[float]) -> str:
    v = sorted(values)
    p = lambda q: v[min(len(v) - 1, int(q * len(v)))]  # noqa: E731
    return (
        f"{name:<28} n={len(v):<4} min {v[0]:8.1f}  p50 {p(0.5):8.1f}  p99 {p(0.99):8.1f}  "
        f"max {v[-1]:8.1f}  (µs)  negative: {sum(1 for x in v if x < 0)}"
    )


async def clock_lateness(samples: int, gap: float) -> list[float]:
    clock = PreciseClock()
    out: list[float] = []
    for _ in range(samples):
        target = time.time_ns() + int(gap * 1e9)
        await clock.sleep_until_ns(target)
        out.append((time.time_ns() - target) / 1000)
    return out


def definitions(tmp: Path) -> Definitions:
    busy_cmd = [sys.executable, "-c", "while True: pass"]
    load_tasks: dict[str, Any] = {f"cmd{i}": {"command": busy_cmd} for i in range(25)}
    load_tasks |= {f"py{i}": {"python": "tapri_bench_busy:spin"} for i in range(25)}
    return Definitions.model_validate(
        {
            "workflow": {
                "tatkal": {
                    "precise": True,
                    "lead": "1s",
                    "task": {"book": {"command": "true", "at_fire": True}},
                },
                "load": {"task": load_tasks},
            }
        }
    )


async def task_lateness(
    engine: Engine, store: SQLiteStore, samples: int, gap: float
) -> list[float]:
    clock: ProbedClock = engine.services.clock  # type: ignore[assignment]
    probe: Probe = engine.services.executor  # type: ignore[assignment]
    out: list[float] = []
    engine_part: list[float] = []
    spawn_part: list[float] = []
    clock_part: list[float] = []
    late_before_wait = 0
    for _ in range(samples):
        target = datetime.now(UTC) + timedelta(seconds=gap)
        target = target.replace(microsecond=(target.microsecond // 1000) * 1000)
        run = await engine.create_run(
            "tatkal", logical_date=target, trigger=Trigger.SCHEDULE, scheduled_for=target
        )
        final = await engine.execute(run.run_id, fire_at=target)
        assert final.state is RunState.SUCCESS, final
        [attempt] = await store.get_attempts(run.run_id, "book")
        assert attempt.lateness_us is not None and attempt.fire_actual_ns is not None
        out.append(attempt.lateness_us)
        target_ns = attempt.fire_target_ns or 0
        woke, called = clock.returned_ns.get(target_ns), probe.called_ns[target_ns]
        if woke is None:
            late_before_wait += 1  # the run reached the wait after the instant
        else:
            clock_part.append((woke - target_ns) / 1000)
            engine_part.append((called - woke) / 1000)
        spawn_part.append((attempt.fire_actual_ns - called) / 1000)
    if late_before_wait:
        print(f"  {late_before_wait} samples reached the wait after the instant (gap too short)")
    print(summary("  of which: clock wake-up", clock_part))
    print(summary("  of which: engine (store)", engine_part))
    print(summary("  of which: executor spawn", spawn_part))
    return out


async def with_load(engine: Engine, store: SQLiteStore, samples: int, gap: float) -> list[float]:
    async with anyio.create_task_group() as tg:
        run = await engine.create_run(
            "load", logical_date=datetime.now(UTC), trigger=Trigger.MANUAL
        )
        tg.start_soon(engine.execute, run.run_id)
        with anyio.fail_after(60):
            while len([a for a in await store.get_attempts(run.run_id) if a.pid]) < 50:
                await anyio.sleep(0.2)
        await anyio.sleep(2)  # let the python workers start their threads
        print(f"  load: 50 busy tasks running, load average {os.getloadavg()[0]:.1f}")
        try:
            print(summary("clock sleep_until (50 busy)", await clock_lateness(samples, 0.037)))
            return await task_lateness(engine, store, samples, gap)
        finally:
            engine.cancel(run.run_id, "benchmark over")


def _burn(stop: threading.Event) -> None:
    x = 0
    while not stop.is_set():
        x += 1


async def main(samples: int, threads: bool) -> None:
    logs.configure("console", "error")
    health = clock_health()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Linux {platform.release()}")
    print(f"python {platform.python_version()}, kernel clock: {health}")
    print(summary("clock sleep_until (idle)", await clock_lateness(samples, 0.037)))
    probe = PreciseClock()
    await probe.sleep_until_ns(time.time_ns() + 1_000_000)
    print(f"  SCHED_FIFO around the instant: {probe.realtime}")
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        (tmp / "tapri_bench_busy.py").write_text(BUSY_MODULE)
        async with (
            SQLiteStore.open(tmp / "state" / "tapri.sqlite3") as store,
            Dispatcher(python_path=[str(tmp)]) as dispatcher,
        ):
            engine = Engine(
                config=EngineConfig(log_dir=tmp / "logs", max_parallel_tasks=64),
                store=store,
                executor=Probe(dispatcher),
                clock=ProbedClock(),
                notifier=NullNotifier(),
                definitions=definitions(tmp),
            )
            idle = await task_lateness(engine, store, samples, 0.15)
            print(summary("at_fire task (idle)", idle))
            loaded = await with_load(engine, store, samples, 0.4)
            print(summary("at_fire task (50 busy tasks)", loaded))
    if threads:
        stop = threading.Event()
        burners = [threading.Thread(target=_burn, args=(stop,), daemon=True) for _ in range(8)]
        for burner in burners:
            burner.start()
        try:
            print(summary("clock, 8 threads in-process", await clock_lateness(samples, 0.037)))
        finally:
            stop.set()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=100)
    parser.add_argument("--threads", action="store_true")
    args = parser.parse_args()
    anyio.run(main, args.samples, args.threads)
