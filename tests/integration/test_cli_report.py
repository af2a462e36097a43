"""`tapri report` against a real store file populated with runs, retries, late fires, misses."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from tapri_daemon.cli.main import cli
from tapri_daemon.interfaces import (
    AttemptRecord,
    FireRecord,
    FireStatus,
    Outcome,
    RunRecord,
    RunState,
    Trigger,
)
from tapri_daemon.store.sqlite import SQLiteStore

NOW = datetime.now(UTC).replace(microsecond=0)
DURATIONS = [12.0, 15.0, 11.0, 40.0, 13.0, 14.0, 90.0, 16.0, 17.0, 18.0]  # seconds, per run
FAILED = {3, 6}  # run indexes that failed
RETRIED = {3, 6, 8}  # run indexes whose task needed a second attempt
LATENESS_US = [200.0, 800.0, 1500.0, 5000.0]  # precise fires of the tatkal workflow


def run(run_id: str, workflow: str, start: datetime, took: float, state: RunState) -> RunRecord:
    return RunRecord(
        run_id=run_id,
        workflow=workflow,
        logical_date=start,
        trigger=Trigger.SCHEDULE,
        state=state,
        queued_at=start,
        started_at=start,
        ended_at=start + timedelta(seconds=took),
        scheduled_for=start,
    )


def attempt(run_id: str, n: int, start: datetime, **fields: object) -> AttemptRecord:
    return AttemptRecord(
        run_id=run_id,
        task_id="upload",
        attempt=n,
        outcome=Outcome.SUCCESS,
        started_at=start,
        ended_at=start + timedelta(seconds=1),
        **fields,  # type: ignore[arg-type]
    )


async def populate(db: Path) -> None:
    async with SQLiteStore.open(db) as store:
        for i, took in enumerate(DURATIONS):
            start = NOW - timedelta(hours=10 * (i + 1))
            state = RunState.FAILED if i in FAILED else RunState.SUCCESS
            run_id = f"rbi__{i}"
            await store.save_run(run(run_id, "rbi", start, took, state))
            for n in (1, 2) if i in RETRIED else (1,):
                await store.save_attempt(attempt(run_id, n, start))
        old = NOW - timedelta(days=30)  # outside a 7d window
        await store.save_run(run("rbi__old", "rbi", old, 500.0, RunState.FAILED))
        for i, late_us in enumerate(LATENESS_US):
            start = NOW - timedelta(days=1, minutes=i)
            target = int(start.timestamp() * 1e9)
            await store.save_run(run(f"tatkal__{i}", "tatkal", start, 2.0, RunState.SUCCESS))
            await store.save_attempt(
                attempt(
                    f"tatkal__{i}",
                    1,
                    start,
                    fire_target_ns=target,
                    fire_actual_ns=target + int(late_us * 1000),
                )
            )
        missed = FireRecord(
            workflow="tatkal",
            scheduled_for=NOW - timedelta(days=2),
            recorded_at=NOW - timedelta(days=2),
            status=FireStatus.STARTED,
            missed_count=3,
        )
        await store.record_fire(missed)


@pytest.fixture
def state(tmp_path: Path) -> Path:
    folder = tmp_path / "state"
    folder.mkdir()
    asyncio.run(populate(folder / "tapri.sqlite3"))
    return folder


def tapri(state: Path, *args: str) -> Result:
    config = state.parent / "tapri.toml"
    config.write_text('[daemon]\ntimezone = "Asia/Kolkata"\n')
    base = ["--config", str(config), "--state-dir", str(state)]
    return CliRunner().invoke(cli, [*base, *args], catch_exceptions=False)


def test_json_figures_per_workflow(state: Path) -> None:
    before = datetime.now(UTC) - timedelta(days=7, seconds=1)
    result = tapri(state, "report", "--json")
    after = datetime.now(UTC) - timedelta(days=7)
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert before <= datetime.fromisoformat(document["since"]) <= after
    rbi, tatkal = document["workflows"]
    assert (rbi["workflow"], rbi["runs"], rbi["succeeded"], rbi["failed"]) == ("rbi", 10, 8, 2)
    assert rbi["success_rate"] == pytest.approx(0.8)
    ordered = sorted(DURATIONS)
    assert rbi["duration_p50_s"] == ordered[4]  # nearest rank: the 5th of 10
    assert rbi["duration_p95_s"] == ordered[9]
    assert rbi["retries"] == len(RETRIED)
    assert tatkal["late_fires"] == sum(1 for us in LATENESS_US if us > 1000)
    assert tatkal["missed_fires"] == 3
    assert tatkal["success_rate"] == 1.0


def test_a_longer_window_takes_older_runs_in(state: Path) -> None:
    document = json.loads(tapri(state, "report", "rbi", "--since", "60d", "--json").output)
    [rbi] = document["workflows"]
    assert (rbi["runs"], rbi["failed"], rbi["duration_max_s"]) == (11, 3, 500.0)


def test_the_table_shows_one_row_per_workflow(state: Path) -> None:
    result = tapri(state, "report")
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line.split() for line in result.output.splitlines() if line.strip()}
    assert lines["rbi"][1:5] == ["10", "8", "2", "80%"]
    assert lines["rbi"][5:7] == ["15.00s", "1m30s"]
    assert lines["tatkal"][7:10] == ["0", "2", "3"]


def test_one_workflow_and_an_empty_window(state: Path, tmp_path: Path) -> None:
    only = tapri(state, "report", "tatkal", "--json")
    assert [w["workflow"] for w in json.loads(only.output)["workflows"]] == ["tatkal"]
    nothing = tapri(state, "report", "rbi", "--since", "1h")
    assert nothing.output.strip() == "no runs of rbi in the last 1h"
    empty = tmp_path / "empty"
    empty.mkdir()
    assert tapri(empty, "report").output.strip() == "no runs in the last 7d"


def test_a_bad_window_is_a_usage_error(state: Path) -> None:
    result = CliRunner().invoke(cli, ["report", "--since", "7 days"])
    assert result.exit_code == 2
    assert "is not a duration" in result.output
