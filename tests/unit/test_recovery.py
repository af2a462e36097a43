"""Recovery after a daemon died: lost attempts, leftover process groups, pid reuse."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from tapri_daemon import logs
from tapri_daemon.interfaces import (
    AttemptRecord,
    DaemonRecord,
    Outcome,
    RunRecord,
    RunState,
    Store,
    Trigger,
)
from tapri_daemon.store.memory import MemoryStore
from tapri_daemon.store.recovery import group_members, read_stat, recover, start_time
from tapri_daemon.store.sqlite import SQLiteStore

T0 = datetime(2025, 3, 10, 4, 30, tzinfo=UTC)
NOW = T0 + timedelta(hours=1)


@pytest.fixture
def group() -> Iterator[subprocess.Popen[bytes]]:
    """A real process group: a shell leader with two sleeping children."""
    proc = subprocess.Popen(["/bin/sh", "-c", "sleep 60 & sleep 60 & wait"], start_new_session=True)
    deadline = time.monotonic() + 5
    while len(group_members(proc.pid, proc.pid)) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    yield proc
    if proc.poll() is None:
        proc.kill()
    proc.wait()


async def seed(store: Store, **attempt: object) -> AttemptRecord:
    await store.save_run(
        RunRecord(
            run_id="r1",
            workflow="wf",
            logical_date=T0,
            trigger=Trigger.SCHEDULE,
            state=RunState.RUNNING,
            queued_at=T0,
        )
    )
    record = AttemptRecord(
        run_id="r1",
        task_id="t",
        attempt=1,
        outcome=None,
        started_at=T0,
        daemon_id="dead",
        **attempt,  # type: ignore[arg-type]
    )
    await store.save_attempt(record)
    return record


def test_proc_stat_parsing_handles_odd_names(tmp_path: Path) -> None:
    (tmp_path / "42").mkdir()
    fields = " ".join(str(n) for n in range(4, 53))  # field n holds n
    (tmp_path / "42" / "stat").write_text(f"42 (a) b (c)) S {fields}\n")
    stat = read_stat(42, tmp_path)
    assert stat is not None and stat.state == "S"
    assert (stat.pgrp, stat.session, stat.start_time) == (5, 6, 22)
    assert read_stat(43, tmp_path) is None


async def test_live_group_is_killed_and_attempt_lost(
    tmp_path: Path, group: subprocess.Popen[bytes]
) -> None:
    async with SQLiteStore.open(tmp_path / "tapri.db") as store:
        await seed(store, pid=group.pid, pgid=group.pid, pid_start_time=start_time(group.pid))
        await store.record_daemon(DaemonRecord(daemon_id="dead", pid=1, host="h", started_at=T0))
        with capture_logs() as captured:
            report = await recover(store, daemon_id="new", now=NOW)
        assert report.killed == 3
        assert group.wait(timeout=5) == -9
        assert group_members(group.pid, group.pid) == []
        [lost] = await store.get_attempts("r1")
        assert lost.outcome is Outcome.LOST and lost.ended_at == NOW
        assert lost.error == "daemon dead died" and lost.killed == 3
        assert report.lost == (lost,) and report.resume == ("r1",)
        assert report.dead_daemons == ("dead",)
        assert (await store.daemon_instances())[0].stopped_at == NOW
    events = [e["event"] for e in captured]
    assert events == [logs.TASK_LOST, logs.RECOVERY_FINISHED]
    assert captured[0]["workflow"] == "wf" and captured[0]["task_id"] == "t"


async def test_reused_pid_is_not_killed(group: subprocess.Popen[bytes]) -> None:
    store = MemoryStore()
    real = start_time(group.pid)
    assert real is not None
    await seed(store, pid=group.pid, pgid=group.pid, pid_start_time=real - 1)
    report = await recover(store, daemon_id="new", now=NOW)
    assert report.killed == 0 and report.spared == (group.pid,)
    assert group.poll() is None and len(group_members(group.pid, group.pid)) == 3
    [lost] = await store.get_attempts("r1")
    assert lost.outcome is Outcome.LOST


async def test_gone_process_and_kill_off(group: subprocess.Popen[bytes]) -> None:
    done = subprocess.Popen(["true"])
    done.wait()
    store = MemoryStore()
    await seed(store, pid=done.pid, pgid=done.pid, pid_start_time=1)
    report = await recover(store, daemon_id="new", now=NOW)
    assert (report.killed, report.spared, len(report.lost)) == (0, (), 1)
    second = MemoryStore()
    await seed(second, pid=group.pid, pgid=group.pid, pid_start_time=start_time(group.pid))
    report = await recover(second, daemon_id="new", now=NOW, kill=False)
    assert report.killed == 0 and group.poll() is None


async def test_own_attempts_and_finished_runs_are_left_alone() -> None:
    store = MemoryStore()
    await seed(store)
    await store.save_attempt(
        AttemptRecord(
            run_id="r1", task_id="u", attempt=1, outcome=None, started_at=T0, daemon_id="new"
        )
    )
    await store.save_run(
        RunRecord(
            run_id="r0",
            workflow="wf",
            logical_date=T0,
            trigger=Trigger.MANUAL,
            state=RunState.SUCCESS,
            queued_at=T0 - timedelta(1),
        )
    )
    report = await recover(store, daemon_id="new", now=NOW)
    assert [a.task_id for a in report.lost] == ["t"]
    assert [a.task_id for a in await store.running_attempts()] == ["u"]
    assert report.resume == ("r1",)
