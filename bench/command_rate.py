"""1,000 `true` command tasks, 8 at a time: the Dispatcher vs a bare anyio.run_process loop.

Both are measured in the same process, alternately (two rounds each), so the machine's
load affects them alike. The Dispatcher does per attempt what a task needs: a clean
environment, a new session, the log file, the $TAPRI_OUTPUT check, the hunt for leftover
processes; the bare loop only spawns and waits. Goal: the Dispatcher at >= 60 % of the
bare rate.

    /work/venv/bin/python bench/command_rate.py [--tasks 1000] [--concurrency 8] [--relayed]

``--relayed``: every attempt's pipes are read by a relay process (as beyond the open-file
budget, see executors/outlets.py) instead of by the daemon.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import anyio

from tapri_daemon.executors import Dispatcher
from tapri_daemon.interfaces import AttemptRequest, RunInfo, Trigger
from tapri_daemon.model import Task
from tapri_daemon.testing import NullObserver

NOW = datetime(2026, 1, 5, tzinfo=UTC)
RUN = RunInfo(
    run_id="bench", workflow="bench", logical_date=NOW, data_interval_start=NOW,
    data_interval_end=NOW, trigger=Trigger.MANUAL, attempt=1, timezone="UTC",
)  # fmt: skip
TASK = Task(command=("true",))


async def in_parallel(total: int, concurrency: int, one: Callable[[int], Awaitable[None]]) -> float:
    queue = iter(range(total))

    async def lane() -> None:
        for i in queue:
            await one(i)

    began = time.perf_counter()
    async with anyio.create_task_group() as group:
        for _ in range(concurrency):
            group.start_soon(lane)
    return time.perf_counter() - began


async def bare(total: int, concurrency: int) -> float:
    async def one(_: int) -> None:
        await anyio.run_process(["true"])

    return await in_parallel(total, concurrency, one)


async def dispatched(dispatcher: Dispatcher, logs: str, total: int, concurrency: int) -> float:
    observer = NullObserver()

    async def one(i: int) -> None:
        request = AttemptRequest(
            task_id="t", task=TASK, run=RUN, attempt=1, argv=("true",),
            log_path=f"{logs}/t.{i}.log",
        )  # fmt: skip
        result = await dispatcher.execute(request, observer)
        if result.outcome != "success":
            raise RuntimeError(result)

    return await in_parallel(total, concurrency, one)


async def main(total: int, concurrency: int, relayed: bool) -> None:
    bare_s = disp_s = 0.0
    with tempfile.TemporaryDirectory() as logs:
        async with Dispatcher(direct_pipes=0 if relayed else None) as dispatcher:
            await dispatched(dispatcher, logs, 20, concurrency)  # warm up
            await bare(20, concurrency)
            for _ in range(2):
                bare_s += await bare(total, concurrency)
                disp_s += await dispatched(dispatcher, logs, total, concurrency)
    bare_rate, disp_rate = 2 * total / bare_s, 2 * total / disp_s
    python = platform.python_version()
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {python}")
    print(f"tasks: {total} x 2 rounds, {concurrency} at a time")
    print(f"bare anyio.run_process: {bare_rate:8.0f} processes/s")
    how = "relayed" if relayed else "command"
    print(f"Dispatcher ({how}):   {disp_rate:8.0f} tasks/s")
    print(f"ratio: {disp_rate / bare_rate:.0%} (goal >= 60%)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--relayed", action="store_true", help="pipes read by a relay")
    args = parser.parse_args()
    asyncio.run(main(args.tasks, args.concurrency, args.relayed))
