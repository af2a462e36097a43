"""Group-commit throughput of SQLiteStore, shaped like the engine's persistence traffic.

Two shapes, many tasks at once (N lanes):

- ``awaited``: each task awaits four writes in sequence through the Store protocol (task
  running, attempt started, attempt finished, task success with its output);
- ``engine``: what the engine does since the store has ``submit``: the start (task running
  + attempt started) queued without waiting, the end (attempt finished + task success)
  queued at once after it, both awaited together (one commit per task at most, and the
  start's rows are superseded by the end's when they share a batch).

Prints tasks/s, writes/s, commits/s and batch sizes for each, then the latency of one lone
awaited write (no concurrency to batch with).

    python bench/store_commit.py [--tasks 10000] [--concurrency 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from tapri_daemon.interfaces import (
    AttemptRecord,
    Outcome,
    RunRecord,
    RunState,
    TaskRecord,
    TaskState,
    Trigger,
)
from tapri_daemon.store.sqlite import SQLiteStore

NOW = datetime.now(UTC)


async def one_task(store: SQLiteStore, run_id: str, i: int) -> None:
    task_id = f"t{i}"
    await store.save_task(TaskRecord(run_id=run_id, task_id=task_id, state=TaskState.RUNNING))
    started = AttemptRecord(run_id=run_id, task_id=task_id, attempt=1, outcome=None, started_at=NOW)
    await store.save_attempt(started)
    await store.save_attempt(
        AttemptRecord(
            run_id=run_id,
            task_id=task_id,
            attempt=1,
            outcome=Outcome.SUCCESS,
            started_at=NOW,
            ended_at=NOW,
        )
    )
    await store.save_task(
        TaskRecord(run_id=run_id, task_id=task_id, state=TaskState.SUCCESS, attempts=1, output=i)
    )


async def engine_task(store: SQLiteStore, run_id: str, i: int) -> None:
    task_id = f"t{i}"
    start = store.submit(
        tasks=[TaskRecord(run_id=run_id, task_id=task_id, state=TaskState.RUNNING)],
        attempts=[
            AttemptRecord(run_id=run_id, task_id=task_id, attempt=1, outcome=None, started_at=NOW)
        ],
    )
    ended = AttemptRecord(
        run_id=run_id,
        task_id=task_id,
        attempt=1,
        outcome=Outcome.SUCCESS,
        started_at=NOW,
        ended_at=NOW,
    )
    done = TaskRecord(run_id=run_id, task_id=task_id, state=TaskState.SUCCESS, attempts=1, output=i)
    end = store.submit(tasks=[done], attempts=[ended])
    await start
    await end


SHAPES = {"awaited": one_task, "engine": engine_task}


async def worker(store: SQLiteStore, shape: str, first: int, step: int, tasks: int) -> None:
    """One of ``step`` concurrent lanes (a semaphore with thousands of waiters costs more
    than the store itself in Python 3.11)."""
    for i in range(first, tasks, step):
        await SHAPES[shape](store, "bench", i)


async def throughput(path: Path, shape: str, tasks: int, concurrency: int) -> None:
    async with SQLiteStore.open(path) as store:
        run = RunRecord(
            run_id="bench",
            workflow="bench",
            logical_date=NOW,
            trigger=Trigger.MANUAL,
            state=RunState.RUNNING,
            queued_at=NOW,
        )
        await store.save_run(run)
        before = store.writer_stats()
        start = time.perf_counter()
        lanes = [worker(store, shape, w, concurrency, tasks) for w in range(concurrency)]
        await asyncio.gather(*lanes)
        elapsed = time.perf_counter() - start
        after = store.writer_stats()
        commits = after.commits - before.commits
        writes = after.writes - before.writes
        print(f"{shape}: tasks={tasks} concurrency={concurrency} elapsed={elapsed:.3f}s")
        print(f"  tasks/s   {tasks / elapsed:10.0f}")
        print(f"  writes/s  {writes / elapsed:10.0f}")
        print(f"  commits/s {commits / elapsed:10.0f}")
        print(f"  batch     mean {writes / commits:.1f}  largest {after.largest_batch}")
        assert len(await store.get_tasks("bench")) == tasks


async def lone_latency(path: Path, n: int = 300) -> None:
    async with SQLiteStore.open(path) as store:
        samples = []
        for i in range(n):
            task = TaskRecord(run_id="solo", task_id=f"t{i}", state=TaskState.SUCCESS)
            start = time.perf_counter()
            await store.save_task(task)
            samples.append((time.perf_counter() - start) * 1e6)
        samples.sort()
        p99 = samples[int(0.99 * len(samples)) - 1]
        print(f"lone awaited write: p50 {statistics.median(samples):.0f} us  p99 {p99:.0f} us")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        for shape in SHAPES:
            db = Path(folder) / f"{shape}.db"
            asyncio.run(throughput(db, shape, args.tasks, args.concurrency))
        asyncio.run(lone_latency(Path(folder) / "lone.db"))


if __name__ == "__main__":
    main()
