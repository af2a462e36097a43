"""`yes | head -c 5G` through the process executor: time, log size, peak memory.

The log is capped (default 10 MiB: head + tail + a marker), the attempt's memory is the
tail ring plus a few 64 KiB chunks, so the daemon's peak RSS (VmHWM) must stay flat
whatever the task prints. Prints the peak before and after, and the throughput.

    /work/venv/bin/python bench/big_output.py [--bytes 5G] [--log-limit 10MiB] [--relayed]

``--relayed``: the pipes are read by a relay process (as beyond the open-file budget, see
executors/outlets.py); the relay's peak RSS is printed too.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from tapri_daemon import durations
from tapri_daemon.executors import Dispatcher
from tapri_daemon.interfaces import AttemptRequest, RunInfo, Trigger
from tapri_daemon.model import Task
from tapri_daemon.testing import NullObserver

NOW = datetime(2026, 1, 5, tzinfo=UTC)
RUN = RunInfo(
    run_id="bench", workflow="bench", logical_date=NOW, data_interval_start=NOW,
    data_interval_end=NOW, trigger=Trigger.MANUAL, attempt=1, timezone="UTC",
)  # fmt: skip


def status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise LookupError(field)


def head_bytes(text: str) -> int:
    """What `head -c` means by 5G, 200M, 64K (binary units), or a plain byte count."""
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    return int(text[:-1]) * units[text[-1]] if text[-1] in units else int(text)


def relay_peak_kib(dispatcher: Dispatcher) -> int | None:
    for link in dispatcher.hub.outlets.links:
        for line in Path(f"/proc/{link.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return None


async def main(total: int, log_limit: int, relayed: bool) -> None:
    script = f"yes | head -c {total}; echo last-line"
    with tempfile.TemporaryDirectory() as logs:
        log_path = f"{logs}/big.1.log"
        request = AttemptRequest(
            task_id="big", task=Task(shell=script), run=RUN, attempt=1,
            argv=("/bin/sh", "-c", script), log_path=log_path, log_limit=log_limit,
        )  # fmt: skip
        async with Dispatcher(direct_pipes=0 if relayed else None) as dispatcher:
            peak_before = status_kib("VmHWM")
            began = time.perf_counter()
            result = await dispatcher.execute(request, NullObserver())
            elapsed = time.perf_counter() - began
            relay_kib = relay_peak_kib(dispatcher)
        log_size = os.path.getsize(log_path)
        with open(log_path, "rb") as log:
            log.seek(log_limit // 2)
            marker = log.readline() + log.readline()
    python = platform.python_version()
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {python}")
    print(f"task: {script!r} -> {result.outcome}, output {result.output!r}")
    print(f"duration: {elapsed:.1f} s ({total / elapsed / 1e6:.0f} MB/s through the executor)")
    print(f"log file: {log_size} bytes (limit {log_limit}); marker: {marker.strip()!r}")
    print(
        f"peak RSS (VmHWM): {peak_before / 1024:.1f} MiB before, "
        f"{status_kib('VmHWM') / 1024:.1f} MiB after"
    )
    if relay_kib is not None:
        print(f"relay process peak RSS (VmHWM): {relay_kib / 1024:.1f} MiB")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bytes", default="5G", help="what head -c gets (5G, 200M…)")
    parser.add_argument("--log-limit", default="10MiB")
    parser.add_argument("--relayed", action="store_true", help="through a relay process")
    args = parser.parse_args()
    limit = durations.parse_size(args.log_limit)
    asyncio.run(main(head_bytes(args.bytes), limit, args.relayed))
