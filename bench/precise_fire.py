"""Precise-mode lateness: how late after the instant T does a fired task start?

Measured through the real Engine + Dispatcher + SQLite store + PreciseClock (what the
daemon runs), for one precise workflow per sample whose three ``at_fire`` tasks fire
``STAGGER`` apart (so they do not share an instant):

    command  ``date +%s%N``          armed launcher, exec at the release
    sync     a plain python function  armed worker subprocess, called at the release
    async    an ``async def``         on the daemon's loop, entered at the instant

Printed per kind, in µs, min / p50 / p99 / max (lateness < 0 would be a bug):

    recorded   what the engine stores: fire_actual_ns - fire_target_ns, the actual start
               stamped by the task's process at its release (docs/executors.md)
    observed   what the task's own code saw: the python function's first line
               (``time.time_ns()``), or the time ``date`` printed after its exec and start-up

and the armed lead (how long before T the engine handed the attempt to the executor).
Then the same with 50 other tasks busy (25 ``command`` tasks spinning a python loop, 25
sync ``python`` tasks spinning in their worker subprocesses with 2 extra CPU-bound threads
each). ``clock`` is PreciseClock.sleep_until alone (the daemon's own part).

    python bench/precise_fire.py [--samples 50] [--threads] [--no-priority] [--no-realtime]
                                 [--no-load] [--guard-ms 30]

``--no-priority``: armed processes keep the normal policy at their release (the
Dispatcher's ``release_priority=None``); ``--no-realtime``: the daemon's loop never takes
SCHED_FIFO either (an unprivileged daemon). ``--threads``: afterwards, the worst case tapri
avoids by design: 8 CPU-bound threads inside the daemon process itself (the clock and the
three kinds). ``--guard-ms``:
the PreciseClock's guard window (how long before an instant the daemon's loop thread takes
SCHED_FIFO; the daemon's default is 30 ms).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import threading
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio

from tapri_daemon import logs
from tapri_daemon.daemon.precise import GUARD_WINDOW_NS, PreciseClock, clock_health
from tapri_daemon.engine.config import EngineConfig, NullNotifier
from tapri_daemon.engine.engine import Engine
from tapri_daemon.executors import Dispatcher
from tapri_daemon.interfaces import RunState, Trigger
from tapri_daemon.model import Definitions
from tapri_daemon.store.sqlite import SQLiteStore

STAGGER_MS = 40
KINDS = ("command", "sync", "async")
BENCH_MODULE = """
import threading, time

def stamp():
    return time.time_ns()

async def astamp():
    return time.time_ns()

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
    """Wraps the executor: when did the engine hand each precise attempt over?"""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.called_ns: dict[tuple[str, int], int] = {}

    async def execute(self, request: Any, observer: Any) -> Any:
        if request.fire_at_ns is not None:
            self.called_ns[(request.task_id, request.fire_at_ns)] = time.time_ns()
        return await self.inner.execute(request, observer)


def summary(name: str, values: list[float]) -> str:
    if not values:
        return f"{name:<34} n=0"
    v = sorted(values)
    p = lambda q: v[min(len(v) - 1, int(q * len(v)))]  # noqa: E731
    return (
        f"{name:<34} n={len(v):<4} min {v[0]:9.1f}  p50 {p(0.5):9.1f}  p99 {p(0.99):9.1f}  "
        f"max {v[-1]:9.1f}  (µs)  negative: {sum(1 for x in v if x < 0)}"
    )


GUARD_NS = GUARD_WINDOW_NS


def precise_clock(realtime: bool) -> PreciseClock:
    return PreciseClock(realtime=realtime, guard_window_ns=GUARD_NS)


async def clock_lateness(samples: int, gap: float, realtime: bool) -> list[float]:
    clock = precise_clock(realtime)
    out: list[float] = []
    for _ in range(samples):
        target = time.time_ns() + int(gap * 1e9)
        await clock.sleep_until_ns(target)
        out.append((time.time_ns() - target) / 1000)
    return out


def definitions() -> Definitions:
    busy_cmd = [sys.executable, "-c", "while True: pass"]
    load_tasks: dict[str, Any] = {f"cmd{i}": {"command": busy_cmd} for i in range(25)}
    load_tasks |= {f"py{i}": {"python": "tapri_bench:spin"} for i in range(25)}
    fired = {
        "command": {"command": ["date", "+%s%N"]},
        "sync": {"python": "tapri_bench:stamp"},
        "async": {"python": "tapri_bench:astamp"},
    }
    tasks = {
        kind: {**spec, "at_fire": True, "fire_offset": f"{i * STAGGER_MS}ms"}
        for i, (kind, spec) in enumerate(fired.items())
    }
    return Definitions.model_validate(
        {
            "workflow": {
                "tatkal": {"precise": True, "lead": "1s", "task": tasks},
                "load": {"task": load_tasks},
            }
        }
    )


Figures = dict[str, list[float]]


async def one_fire(engine: Engine, store: SQLiteStore, gap: float, figures: Figures) -> None:
    probe: Probe = engine.services.executor  # type: ignore[assignment]
    target = datetime.now(UTC) + timedelta(seconds=gap)
    target = target.replace(microsecond=(target.microsecond // 1000) * 1000)
    run = await engine.create_run(
        "tatkal", logical_date=target, trigger=Trigger.SCHEDULE, scheduled_for=target
    )
    final = await engine.execute(run.run_id, fire_at=target)
    assert final.state is RunState.SUCCESS, final
    outputs = {t.task_id: t.output for t in await store.get_tasks(run.run_id)}
    for kind in KINDS:
        [attempt] = await store.get_attempts(run.run_id, kind)
        assert attempt.lateness_us is not None and attempt.fire_target_ns is not None
        target_ns = attempt.fire_target_ns
        figures[f"{kind} recorded"].append(attempt.lateness_us)
        if attempt.lateness_us > 1000:
            sample = len(figures[f"{kind} recorded"])
            print(f"  late: {kind} sample {sample}: {attempt.lateness_us:.0f} µs")
        figures[f"{kind} observed"].append((int(outputs[kind]) - target_ns) / 1000)
        called = probe.called_ns[(kind, target_ns)]
        figures[f"{kind} armed lead (ms)"].append((target_ns - called) / 1000 / 1000)


async def fire_lateness(engine: Engine, store: SQLiteStore, samples: int, gap: float) -> Figures:
    figures: Figures = defaultdict(list)
    for _ in range(samples):
        await one_fire(engine, store, gap, figures)
    return figures


def report(title: str, figures: Figures) -> None:
    print(title)
    for kind in KINDS:
        for what in ("recorded", "observed", "armed lead (ms)"):
            print(summary(f"  {kind} {what}", figures[f"{kind} {what}"]))


async def with_load(engine: Engine, store: SQLiteStore, samples: int, realtime: bool) -> None:
    async with anyio.create_task_group() as tg:
        run = await engine.create_run(
            "load", logical_date=datetime.now(UTC), trigger=Trigger.MANUAL
        )
        tg.start_soon(engine.execute, run.run_id)
        with anyio.fail_after(120):
            while len([a for a in await store.get_attempts(run.run_id) if a.pid]) < 50:
                await anyio.sleep(0.2)
        await anyio.sleep(2)  # let the python workers start their threads
        print(f"load: 50 busy tasks running, load average {os.getloadavg()[0]:.1f}")
        try:
            lateness = await clock_lateness(samples, 0.037, realtime)
            print(summary("clock sleep_until (50 busy)", lateness))
            report("at_fire tasks (50 busy tasks)", await fire_lateness(engine, store, samples, 2))
        finally:
            engine.cancel(run.run_id, "benchmark over")


def _burn(stop: threading.Event) -> None:
    x = 0
    while not stop.is_set():
        x += 1


async def threads_case(engine: Engine, store: SQLiteStore, samples: int, realtime: bool) -> None:
    stop = threading.Event()
    burners = [threading.Thread(target=_burn, args=(stop,), daemon=True) for _ in range(8)]
    for burner in burners:
        burner.start()
    try:
        lateness = await clock_lateness(samples, 0.037, realtime)
        print(summary("clock, 8 threads in-process", lateness))
        figures = await fire_lateness(engine, store, samples, 2)
        report("at_fire tasks (8 CPU-bound threads inside the daemon)", figures)
    finally:
        stop.set()


async def main(samples: int, threads: bool, priority: bool, realtime: bool, load: bool) -> None:
    logs.configure("console", "error")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Linux {platform.release()}")
    print(f"python {platform.python_version()}, kernel clock: {clock_health()}")
    print(summary("clock sleep_until (idle)", await clock_lateness(samples, 0.037, realtime)))
    clock = precise_clock(realtime)
    await clock.sleep_until_ns(time.time_ns() + 1_000_000)
    print(f"SCHED_FIFO for the loop around the instant: {clock.realtime} (from "
          f"{GUARD_NS / 1e6:g} ms before it); release priority: "
          f"{'SCHED_FIFO where allowed' if priority else 'none'}")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        (tmp / "tapri_bench.py").write_text(BENCH_MODULE)
        dispatcher = Dispatcher(
            python_path=[str(tmp)], clock=clock, release_priority=5 if priority else None
        )
        async with SQLiteStore.open(tmp / "state" / "tapri.sqlite3") as store, dispatcher:
            engine = Engine(
                config=EngineConfig(log_dir=tmp / "logs", max_parallel_tasks=64),
                store=store,
                executor=Probe(dispatcher),
                clock=clock,
                notifier=NullNotifier(),
                definitions=definitions(),
            )
            report("at_fire tasks (idle)", await fire_lateness(engine, store, samples, 0.5))
            if load:
                await with_load(engine, store, samples, realtime)
            if threads:
                await threads_case(engine, store, samples, realtime)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=50)
    parser.add_argument("--threads", action="store_true")
    parser.add_argument("--no-priority", action="store_true")
    parser.add_argument("--no-realtime", action="store_true")
    parser.add_argument("--no-load", action="store_true")
    parser.add_argument("--guard-ms", type=float, default=GUARD_WINDOW_NS / 1e6)
    args = parser.parse_args()
    GUARD_NS = int(args.guard_ms * 1e6)
    anyio.run(
        main,
        args.samples,
        args.threads,
        not args.no_priority,
        not args.no_realtime,
        not args.no_load,
    )
