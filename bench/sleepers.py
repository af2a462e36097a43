"""N concurrent `sleep S` command attempts under a hard open-file limit (default 1,000 under
1024, as `ulimit -n 1024`): how many run at once, the daemon's descriptors, the relays.

The first attempts are read by the daemon itself (two pipe ends each) until its budget is
spent, then by relay processes (no descriptor in the daemon; see executors/outlets.py).
Sets its own RLIMIT_NOFILE (soft and hard) before anything else.

    /work/venv/bin/python bench/sleepers.py [--tasks 1000] [--sleep 2] [--nofile 1024]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import resource
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from tapri_daemon.executors import Dispatcher
from tapri_daemon.interfaces import AttemptRequest, Outcome, ProcessInfo, RunInfo, Trigger
from tapri_daemon.model import Task

NOW = datetime(2026, 1, 5, tzinfo=UTC)
RUN = RunInfo(
    run_id="bench", workflow="bench", logical_date=NOW, data_interval_start=NOW,
    data_interval_end=NOW, trigger=Trigger.MANUAL, attempt=1, timezone="UTC",
)  # fmt: skip


def peak_kib(pid: int | str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise LookupError(pid)


class Counter:
    """Counts attempts alive at once, and the daemon's descriptors at the peak."""

    def __init__(self) -> None:
        self.live = self.peak = self.fds_at_peak = 0

    async def spawned(self, info: ProcessInfo) -> None:
        self.live += 1
        if self.live > self.peak:
            self.peak = self.live
            self.fds_at_peak = len(os.listdir("/proc/self/fd"))

    def stopped(self, killed: int) -> None:
        self.killed = killed


async def main(tasks: int, seconds: float) -> None:
    counter = Counter()
    argv = ("sleep", f"{seconds:g}")

    async def one(dispatcher: Dispatcher, logs: str, i: int) -> bool:
        request = AttemptRequest(
            task_id=f"t{i}", task=Task(command=argv), run=RUN, attempt=1, argv=argv,
            log_path=f"{logs}/t{i}.1.log",
        )  # fmt: skip
        result = await dispatcher.execute(request, counter)
        counter.live -= 1
        return result.outcome is Outcome.SUCCESS

    with tempfile.TemporaryDirectory() as logs:
        async with Dispatcher() as dispatcher:
            began = time.perf_counter()
            done = await asyncio.gather(*(one(dispatcher, logs, i) for i in range(tasks)))
            elapsed = time.perf_counter() - began
            relays = [(link.pid, link.capacity) for link in dispatcher.hub.outlets.links]
            relay_kib = [peak_kib(pid) for pid, _ in relays]
            direct = dispatcher.hub.outlets.direct
    python = platform.python_version()
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {python}")
    print(f"open-file limit: {resource.getrlimit(resource.RLIMIT_NOFILE)}")
    print(f"attempts: {tasks} x {' '.join(argv)!r}: {sum(done)} succeeded in {elapsed:.2f} s")
    print(f"at once: {counter.peak}; daemon descriptors then: {counter.fds_at_peak}")
    capacities = [capacity for _, capacity in relays]
    print(f"read directly: up to {direct}; relays: {len(relays)}, capacity {capacities}")
    print(f"peak RSS: daemon {peak_kib('self') / 1024:.1f} MiB, relays "
          f"{', '.join(f'{kib / 1024:.1f}' for kib in relay_kib) or '-'} MiB")  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--sleep", type=float, default=2.0)
    parser.add_argument("--nofile", type=int, default=1024)
    args = parser.parse_args()
    resource.setrlimit(resource.RLIMIT_NOFILE, (args.nofile, args.nofile))
    asyncio.run(main(args.tasks, args.sleep))
