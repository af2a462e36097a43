"""Readers never see "database is locked" while another process commits transitions."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path

from tapri_daemon.interfaces import RunState
from tapri_daemon.store.sqlite import SQLiteStore

EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
WRITER = textwrap.dedent(
    """
    import asyncio, sys, time
    from datetime import UTC, datetime
    from pathlib import Path
    from tapri_daemon.interfaces import *
    from tapri_daemon.store.sqlite import SQLiteStore

    async def main(path, seconds, rate):
        now = datetime.now(UTC)
        done = 0
        async with SQLiteStore.open(Path(path)) as store:
            print("ready", flush=True)
            start = time.monotonic()
            while (elapsed := time.monotonic() - start) < seconds:
                run_id = f"r{done // 4}"
                step = done % 4
                if step == 0:
                    await store.save_run(RunRecord(
                        run_id=run_id, workflow="wf", logical_date=now, trigger=Trigger.MANUAL,
                        state=RunState.RUNNING, queued_at=now))
                elif step == 1:
                    await store.save_task(TaskRecord(
                        run_id=run_id, task_id="t", state=TaskState.RUNNING))
                elif step == 2:
                    await store.save_attempt(AttemptRecord(
                        run_id=run_id, task_id="t", attempt=1, outcome=Outcome.SUCCESS,
                        started_at=now, ended_at=now))
                else:
                    await store.save_run(RunRecord(
                        run_id=run_id, workflow="wf", logical_date=now, trigger=Trigger.MANUAL,
                        state=RunState.SUCCESS, queued_at=now, ended_at=now))
                done += 1
                await asyncio.sleep(max(0.0, done / rate - (time.monotonic() - start)))
            print(done, time.monotonic() - start, flush=True)

    asyncio.run(main(sys.argv[1], float(sys.argv[2]), float(sys.argv[3])))
    """
)


def start_writer(db: Path, seconds: float, rate: float) -> subprocess.Popen[str]:
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(db), str(seconds), str(rate)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert writer.stdout is not None
    assert writer.stdout.readline().strip() == "ready"
    return writer


def finish(writer: subprocess.Popen[str]) -> float:
    out, err = writer.communicate(timeout=60)
    assert writer.returncode == 0, err
    done, elapsed = out.split()
    return int(done) / float(elapsed)


async def read_while(writer: subprocess.Popen[str], db: Path) -> int:
    reads = 0
    async with SQLiteStore.open(db, readonly=True) as store:
        while writer.poll() is None:
            runs = await store.list_runs(limit=20)
            if runs:
                await store.get_tasks(runs[0].run_id)
                await store.get_attempts(runs[0].run_id)
            await store.run_stats(EPOCH)
            reads += 1
            await asyncio.sleep(0.005)
    return reads


def test_a_reader_while_a_process_commits(tmp_path: Path) -> None:
    state = tmp_path / "state"
    db = state / "tapri.sqlite3"
    writer = start_writer(db, seconds=4, rate=120)
    try:
        reads = asyncio.run(read_while(writer, db))
    finally:
        rate = finish(writer)
    print(f"writer {rate:.0f} transitions/s, reader {reads} rounds")
    assert rate >= 50
    assert reads > 20


def test_cli_processes_read_while_a_process_commits(tmp_path: Path) -> None:
    state = tmp_path / "state"
    db = state / "tapri.sqlite3"
    config = tmp_path / "tapri.toml"
    config.touch()
    base = [
        sys.executable,
        "-m",
        "tapri_daemon",
        "--config",
        str(config),
        "--state-dir",
        str(state),
    ]
    writer = start_writer(db, seconds=4, rate=100)
    calls = 0
    try:
        while writer.poll() is None:
            result = subprocess.run(
                [*base, "runs", "--json", "--last", "5"], capture_output=True, text=True, timeout=60
            )
            assert result.returncode == 0, result.stderr
            assert "locked" not in result.stderr
            json.loads(result.stdout)
            calls += 1
    finally:
        rate = finish(writer)
    assert rate >= 50 and calls >= 2


def test_a_second_writer_waits_instead_of_failing(tmp_path: Path) -> None:
    db = tmp_path / "state" / "tapri.sqlite3"
    writer = start_writer(db, seconds=3, rate=150)

    async def cleanup_like() -> int:
        deleted = 0
        async with SQLiteStore.open(db) as store:
            while writer.poll() is None:
                finished = await store.list_runs(states=(RunState.SUCCESS,), limit=10)
                await store.delete_runs([r.run_id for r in finished])
                deleted += len(finished)
                await asyncio.sleep(0.05)
        return deleted

    try:
        deleted = asyncio.run(cleanup_like())
    finally:
        rate = finish(writer)
    assert rate >= 50 and deleted > 0
