"""Non-precise fires: how late after its instant does a schedule fire reach the daemon?

1. raw APScheduler 3.11: AsyncIOScheduler + IntervalTrigger, lateness of the job submission
   (EVENT_JOB_SUBMITTED listener) against the scheduled run time;
2. tapri: daemon.scheduler.FireScheduler (our trigger, hand-off executor) waking
   ``EARLY_WAKE`` before the instant, the fire crossing the memory object stream into a task,
   then PreciseClock.sleep_until(instant): the moment FireHandler records the fire.

    python bench/scheduler_fire.py [--samples 200] [--every 0.1]
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import time
from datetime import UTC, datetime, timedelta

import anyio
from apscheduler.events import EVENT_JOB_SUBMITTED
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from tapri_daemon.daemon.precise import PreciseClock, to_ns
from tapri_daemon.daemon.reload import EARLY_WAKE
from tapri_daemon.daemon.scheduler import FireScheduler, JobSpec


class Every:
    def __init__(self, step: timedelta) -> None:
        self.step = step

    def next_fire(self, after: datetime) -> datetime | None:
        epoch = datetime(1970, 1, 1, tzinfo=UTC)
        return epoch + ((after - epoch) // self.step + 1) * self.step


def summary(name: str, values: list[float]) -> str:
    v = sorted(values)
    p = lambda q: v[min(len(v) - 1, int(q * len(v)))]  # noqa: E731
    return (
        f"{name:<34} n={len(v):<4} min {v[0]:9.1f}  p50 {p(0.5):9.1f}  p99 {p(0.99):9.1f}  "
        f"max {v[-1]:9.1f}  (µs)  early: {sum(1 for x in v if x < 0)}"
    )


async def raw_apscheduler(samples: int, every: float) -> list[float]:
    lateness: list[float] = []
    done = anyio.Event()

    def submitted(event: object) -> None:
        now_ns = time.time_ns()
        for run_time in event.scheduled_run_times:  # type: ignore[attr-defined]
            lateness.append((now_ns - to_ns(run_time)) / 1000)
        if len(lateness) >= samples:
            done.set()

    async def job() -> None:
        return None

    scheduler = AsyncIOScheduler(timezone=UTC)
    scheduler.add_listener(submitted, EVENT_JOB_SUBMITTED)
    scheduler.add_job(job, IntervalTrigger(seconds=every, timezone=UTC), misfire_grace_time=None)
    scheduler.start()
    await done.wait()
    scheduler.shutdown(wait=False)
    return lateness


async def tapri_path(samples: int, every: float) -> list[float]:
    lateness: list[float] = []
    clock = PreciseClock()
    send, receive = anyio.create_memory_object_stream[datetime](math.inf)

    async def handle(instant: datetime) -> None:
        await clock.sleep_until(instant)
        lateness.append((time.time_ns() - to_ns(instant)) / 1000)

    scheduler = FireScheduler(lambda workflow, instant: send.send_nowait(instant))
    spec = JobSpec(
        workflow="w",
        schedule=Every(timedelta(seconds=every)),
        advance=EARLY_WAKE,
        floor=lambda: None,
    )
    scheduler.set_jobs({"w": spec})
    async with anyio.create_task_group() as tg:
        scheduler.start()
        async with receive:
            async for instant in receive:
                tg.start_soon(handle, instant)
                if len(lateness) >= samples:
                    break
        scheduler.shutdown()
    return lateness


async def main(samples: int, every: float) -> None:
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Linux {platform.release()}")
    print(f"load average {os.getloadavg()[0]:.1f}; one fire every {every} s")
    print(summary("raw APScheduler (job submitted)", await raw_apscheduler(samples, every)))
    print(summary("tapri (fire handed over, on time)", await tapri_path(samples, every)))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--every", type=float, default=0.1)
    args = parser.parse_args()
    anyio.run(main, args.samples, args.every)
