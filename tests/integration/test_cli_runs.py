"""`tapri runs / show / logs / cleanup` against a real store file."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from tapri_daemon.cli.main import cli
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

NOW = datetime.now(UTC).replace(microsecond=0)
OLD = NOW - timedelta(days=40)
OLD_RUN = "etl__old"
NEW_RUN = "etl__new"
OTHER_RUN = "reports__new"


def at(base: datetime, seconds: float) -> datetime:
    return base + timedelta(seconds=seconds)


def run_record(run_id: str, workflow: str, base: datetime, state: RunState) -> RunRecord:
    return RunRecord(
        run_id=run_id,
        workflow=workflow,
        logical_date=base,
        trigger=Trigger.SCHEDULE,
        state=state,
        queued_at=base,
        started_at=base,
        ended_at=None if state is RunState.RUNNING else at(base, 10),
        scheduled_for=base,
    )


async def populate(state: Path) -> None:
    logs = state / "logs"
    async with SQLiteStore.open(state / "tapri.sqlite3") as store:
        for run_id, workflow, base, run_state in (
            (OLD_RUN, "etl", OLD, RunState.SUCCESS),
            (NEW_RUN, "etl", NOW, RunState.FAILED),
            (OTHER_RUN, "reports", at(NOW, 1), RunState.RUNNING),
        ):
            await store.save_run(run_record(run_id, workflow, base, run_state))
            await store.save_task(
                TaskRecord(
                    run_id=run_id,
                    task_id="extract",
                    state=TaskState.SUCCESS,
                    attempts=2,
                    output={"rows": 3},
                    started_at=base,
                    ended_at=at(base, 4),
                )
            )
            for n, outcome in ((1, Outcome.FAILED), (2, Outcome.SUCCESS)):
                await store.save_attempt(
                    AttemptRecord(
                        run_id=run_id,
                        task_id="extract",
                        attempt=n,
                        outcome=outcome,
                        exit_code=0 if outcome is Outcome.SUCCESS else 1,
                        started_at=at(base, 2 * n - 2),
                        ended_at=at(base, 2 * n - 1),
                    )
                )
                folder = logs / workflow / run_id
                folder.mkdir(parents=True, exist_ok=True)
                (folder / f"extract.{n}.log").write_bytes(f"{run_id} try {n}\n".encode())


@pytest.fixture
def state(tmp_path: Path) -> Path:
    folder = tmp_path / "state"
    asyncio.run(populate(folder))
    return folder


def tapri(state: Path, *args: str) -> Result:
    config = state.parent / "tapri.toml"
    config.touch()
    base = ["--config", str(config), "--state-dir", str(state)]
    return CliRunner().invoke(cli, [*base, *args], catch_exceptions=False)


def test_runs_json_shape_and_filters(state: Path) -> None:
    result = tapri(state, "runs", "--json")
    assert result.exit_code == 0, result.output
    runs = json.loads(result.output)
    assert [r["run_id"] for r in runs] == [OTHER_RUN, NEW_RUN, OLD_RUN]
    assert set(runs[0]) == {
        "run_id", "workflow", "state", "logical_date", "trigger", "started_at", "ended_at"
    }  # fmt: skip
    assert runs[1]["state"] == "failed" and runs[1]["trigger"] == "schedule"
    assert datetime.fromisoformat(runs[1]["logical_date"]) == NOW
    assert runs[0]["ended_at"] is None
    etl = json.loads(tapri(state, "runs", "etl", "--json", "--last", "1").output)
    assert [r["run_id"] for r in etl] == [NEW_RUN]
    done = json.loads(tapri(state, "runs", "--state", "success", "--json").output)
    assert [r["run_id"] for r in done] == [OLD_RUN]


def test_runs_text_and_empty_store(state: Path, tmp_path: Path) -> None:
    result = tapri(state, "runs")
    assert result.exit_code == 0 and NEW_RUN in result.output and "failed" in result.output
    empty = tmp_path / "nothing"
    result = tapri(empty, "runs")
    assert result.exit_code == 0 and "no runs yet" in result.output
    assert json.loads(tapri(empty, "runs", "--json").output) == []
    assert not empty.exists()


def test_show_json_shape(state: Path) -> None:
    result = tapri(state, "show", NEW_RUN, "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert set(doc) == {"run_id", "workflow", "state", "logical_date", "tasks"}
    assert (doc["run_id"], doc["workflow"], doc["state"]) == (NEW_RUN, "etl", "failed")
    extract = doc["tasks"]["extract"]
    assert {"state", "attempts", "output", "reason", "attempt_list"} <= set(extract)
    assert extract["output"] == {"rows": 3} and extract["attempts"] == 2
    outcomes = [(a["attempt"], a["outcome"]) for a in extract["attempt_list"]]
    assert outcomes == [(1, "failed"), (2, "success")]


def tapri_process(state: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The real entry point in a child process (error handling, exit codes)."""
    config = state.parent / "tapri.toml"
    config.touch()
    base = ["--config", str(config), "--state-dir", str(state)]
    command = [sys.executable, "-m", "tapri_daemon", *base, *args]
    return subprocess.run(command, capture_output=True, text=True, check=False, timeout=60)


def test_show_text_mermaid_and_unknown_run(state: Path) -> None:
    text = tapri(state, "show", NEW_RUN)
    assert text.exit_code == 0 and "timeline" in text.output and "extract #2" in text.output
    mermaid = tapri(state, "show", NEW_RUN, "--format", "mermaid")
    assert mermaid.output.startswith("gantt\n") and "section extract" in mermaid.output
    missing = tapri_process(state, "show", "etl__neww")
    assert missing.returncode == 1, missing.stderr
    assert 'no run "etl__neww" (did you mean "etl__new"?)' in missing.stderr


def test_logs(state: Path) -> None:
    both = tapri(state, "logs", NEW_RUN, "extract")
    assert both.exit_code == 0
    assert f"{NEW_RUN} try 1\n" in both.output and f"{NEW_RUN} try 2\n" in both.output
    assert "==> extract #1 (failed)" in both.output
    one = tapri(state, "logs", NEW_RUN, "extract", "--attempt", "2")
    assert one.output == f"{NEW_RUN} try 2\n"
    unknown = tapri_process(state, "logs", NEW_RUN, "nope")
    assert unknown.returncode == 1 and '"nope"' in unknown.stderr


def test_logs_follow_until_the_attempt_ends(state: Path) -> None:
    db = state / "tapri.sqlite3"
    log = state / "logs" / "reports" / OTHER_RUN / "load.1.log"
    running = AttemptRecord(
        run_id=OTHER_RUN, task_id="load", attempt=1, outcome=None, started_at=NOW
    )

    async def save(record: AttemptRecord) -> None:
        async with SQLiteStore.open(db) as store:
            await store.save_attempt(record)

    asyncio.run(save(running))
    config = state.parent / "tapri.toml"
    config.touch()
    base = ["--config", str(config), "--state-dir", str(state)]
    follower = subprocess.Popen(
        [sys.executable, "-m", "tapri_daemon", *base, "logs", OTHER_RUN, "load", "-f"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        with log.open("ab") as handle:
            for n in range(5):
                handle.write(f"line {n}\n".encode())
                handle.flush()
                time.sleep(0.1)
        assert follower.poll() is None
        asyncio.run(save(replace(running, outcome=Outcome.SUCCESS)))
        out, err = follower.communicate(timeout=20)
    finally:
        if follower.poll() is None:
            follower.kill()
            follower.wait()
    assert follower.returncode == 0, err
    assert out.decode() == "".join(f"line {n}\n" for n in range(5))


def test_cleanup_dry_run_then_for_real(state: Path) -> None:
    old_logs = state / "logs" / "etl" / OLD_RUN
    dry = tapri(state, "cleanup", "--dry-run")
    assert dry.exit_code == 0
    assert f"would remove {OLD_RUN}" in dry.output and NEW_RUN not in dry.output
    assert old_logs.is_dir()
    real = tapri(state, "cleanup", "--older-than", "30d")
    assert real.exit_code == 0 and f"removed {OLD_RUN}" in real.output
    assert "removed 1 runs and 1 log folders" in real.output
    assert not old_logs.exists() and (state / "logs" / "etl" / NEW_RUN).is_dir()
    remaining = json.loads(tapri(state, "runs", "--json").output)
    assert [r["run_id"] for r in remaining] == [OTHER_RUN, NEW_RUN]
    bad = tapri(state, "cleanup", "--older-than", "30")
    assert bad.exit_code == 2 and "not a duration" in bad.output
