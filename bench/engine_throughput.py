"""The engine end to end: 10,000 no-op ``async def`` python tasks, everything persisted.

One workflow: a root, a wide fan-out after it (9,000 tasks) and a 1,000-long chain, run by
the real Engine with the real SQLiteStore (a temp folder, group commit) and the real
executors (``executors.Dispatcher``: an ``async def`` is awaited on the loop). Prints:

- tasks/s: tasks / wall time of ``Engine.execute`` (creation of the run excluded);
- upstream-end -> downstream-start latency along the chain (p50, p99): from the moment
  the executor returned for task N to the moment it was entered for task N+1, which
  includes persisting N's end, the trigger rule, persisting N+1's start and its request;
- where the time goes, with ``--profile`` (cProfile, top functions by own time).

Targets (issue 3): >= 5,000 tasks/s, p50 <= 1 ms, p99 <= 5 ms. The machine is shared, so
the CPU time used (whole process, and the event-loop thread alone) is printed too: it does
not depend on what else runs.

    python bench/engine_throughput.py [--fan-out 9000] [--chain 1000] [--parallel 32]
                                      [--logs none|json] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import logging
import pstats
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import itertools

from validate_10k import workflow_toml

from tapri_daemon import logs
from tapri_daemon.clocks import SystemClock
from tapri_daemon.engine import Engine, EngineConfig, NullNotifier, tune_gc
from tapri_daemon.executors import Dispatcher
from tapri_daemon.interfaces import (
    AttemptObserver,
    AttemptRequest,
    AttemptResult,
    Trigger,
)
from tapri_daemon.spec.load import load_definitions
from tapri_daemon.spec.settings import load_settings
from tapri_daemon.store.sqlite import SQLiteStore

MODULE = "async def noop():\n    return None\n"


class Timed:
    """Wraps the real executor and notes when each attempt was entered and left."""

    def __init__(self, inner: Dispatcher) -> None:
        self.inner = inner
        self.entered: dict[str, int] = {}
        self.left: dict[str, int] = {}

    async def execute(self, request: AttemptRequest, observer: AttemptObserver) -> AttemptResult:
        self.entered[request.task_id] = time.perf_counter_ns()
        result = await self.inner.execute(request, observer)
        self.left[request.task_id] = time.perf_counter_ns()
        return result


def chain_latencies_ms(timed: Timed, chain: int) -> list[float]:
    names = ["root", *(f"chain_{i}" for i in range(chain - 1))]
    return [(timed.entered[b] - timed.left[a]) / 1e6 for a, b in itertools.pairwise(names)]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def bench(args: argparse.Namespace, folder: Path) -> None:
    (folder / "bench_tasks.py").write_text(MODULE)
    path = folder / "workflows.toml"
    path.write_text(workflow_toml(args.fan_out, args.chain))
    settings = load_settings(None, state_dir=folder / "state", workflows=[path])
    loaded = load_definitions(settings)
    if args.gc == "tuned":
        tune_gc()
    async with SQLiteStore.open(settings.paths.db_path) as store, Dispatcher() as dispatcher:
        timed = Timed(dispatcher)
        engine = Engine(
            config=EngineConfig(log_dir=folder / "logs", max_parallel_tasks=args.parallel),
            store=store,
            executor=timed,
            clock=SystemClock(),
            notifier=NullNotifier(),
            definitions=loaded,
        )
        record = await engine.create_run(
            "big", logical_date=datetime.now(UTC), trigger=Trigger.MANUAL
        )
        profiler = cProfile.Profile() if args.profile else None
        began = time.perf_counter()
        cpu_began, loop_began = time.process_time(), time.thread_time()
        if profiler:
            profiler.enable()
        final = await engine.execute(record.run_id)
        if profiler:
            profiler.disable()
        elapsed = time.perf_counter() - began
        cpu = time.process_time() - cpu_began
        loop_cpu = time.thread_time() - loop_began
        stats = store.writer_stats()
        tasks = await store.get_tasks(record.run_id)
    total = len(tasks)
    latencies = chain_latencies_ms(timed, args.chain)
    print(f"run state           {final.state}  ({total} task records persisted)")
    print(f"tasks               {total} (fan-out {args.fan_out}, chain {args.chain})")
    print(f"max_parallel_tasks  {args.parallel}   logs: {args.logs}   gc: {args.gc}")
    print(f"elapsed             {elapsed:.3f} s")
    print(f"tasks/s             {total / elapsed:,.0f}   (target >= 5,000)")
    print(
        f"cpu                 {cpu:.3f} s process, {loop_cpu:.3f} s event-loop thread "
        f"({cpu / total * 1e6:.0f} / {loop_cpu / total * 1e6:.0f} us per task; "
        f"{total / cpu:,.0f} tasks per process-cpu-second)"
    )
    print(f"chain latency p50   {statistics.median(latencies):.3f} ms   (target <= 1 ms)")
    print(f"chain latency p99   {percentile(latencies, 0.99):.3f} ms   (target <= 5 ms)")
    print(
        f"store               {stats.writes} writes in {stats.commits} commits "
        f"(largest batch {stats.largest_batch}; {stats.checkpoints} WAL checkpoints beside)"
    )
    if profiler:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(25)
        print(out.getvalue())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--fan-out", type=int, default=9000)
    parser.add_argument("--chain", type=int, default=1000)
    parser.add_argument("--parallel", type=int, default=32)
    parser.add_argument("--logs", choices=["none", "json"], default="json")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument(
        "--gc",
        choices=["default", "tuned"],
        default="default",
        help="tuned: engine.tune_gc() after loading (what `tapri run` does)",
    )
    args = parser.parse_args()
    if args.logs == "json":
        logs.configure("json", "info", stream=open("/dev/null", "w"))  # noqa: SIM115
    else:
        logs.configure("json", "warning", stream=open("/dev/null", "w"))  # noqa: SIM115
        logging.getLogger().setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory() as folder:
        asyncio.run(bench(args, Path(folder)))


if __name__ == "__main__":
    main()
