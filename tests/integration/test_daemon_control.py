"""The control socket through the CLI: trigger --wait --json, pause across restarts, cancel,
status, exit 3 without a daemon; and a precise fire with its lateness recorded."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from daemon_support import Daemon, attempts_of, running, runs_of, wait_for, write_config

from tapri_daemon.interfaces import RunRecord, RunState

WORKFLOWS = """
[workflow.hello]
params = {{ who = "world" }}
[workflow.hello.task.greet]
command = ["echo", "hello {{{{ params.who }}}}"]
[workflow.hello.task.shout]
shell = "echo DONE"
after = "greet"

[workflow.broken]
[workflow.broken.task.fail]
shell = "exit 3"

[workflow.slow]
[workflow.slow.task.nap]
command = "sleep 30"

[workflow.tatkal]
schedule = "{fire_at}"
precise = true
lead = "1s"
[workflow.tatkal.task.login]
command = "true"
[workflow.tatkal.task.book]
command = "true"
at_fire = true
after = "login"
"""


def _setup(tmp_path: Path, fire_at: datetime) -> None:
    write_config(tmp_path, WORKFLOWS.format(fire_at=fire_at.isoformat(timespec="seconds")))


def test_trigger_wait_json_pause_cancel_status(tmp_path: Path) -> None:
    _setup(tmp_path, datetime.now(UTC) + timedelta(days=1))
    with running(tmp_path) as daemon:
        done = daemon.cli("trigger", "hello", "--param", "who=tapri", "--wait", "--json")
        assert done.returncode == 0, done.stderr
        document = json.loads(done.stdout)
        assert document["state"] == "success" and document["workflow"] == "hello"
        assert document["tasks"]["greet"]["output"] == "hello tapri"
        assert set(document) >= {"run_id", "workflow", "state", "logical_date", "tasks"}

        failed = daemon.cli("trigger", "broken", "--wait", "--json")
        assert failed.returncode == 1 and json.loads(failed.stdout)["state"] == "failed"

        started = daemon.cli("trigger", "slow", "--json")
        run_id = json.loads(started.stdout)["run_id"]
        wait_for(lambda: attempts_of(daemon.db, run_id), 10, "slow started")
        assert daemon.cli("cancel", run_id).returncode == 0
        wait_for(lambda: runs_of(daemon.db, "slow")[0].state is RunState.CANCELLED, 15)

        assert daemon.cli("pause", "hello").returncode == 0
        unknown = daemon.cli("pause", "helo")
        assert unknown.returncode == 1 and 'did you mean "hello"' in unknown.stderr
        status = json.loads(daemon.cli("status", "--json").stdout)
        assert status["paused"] == ["hello"] and status["pid"] == daemon.proc.pid  # type: ignore[union-attr]
        assert {"uptime_s", "config_digest", "last_reload", "running"} <= set(status)
    with running(tmp_path) as again:  # paused survives a restart
        assert json.loads(again.cli("status", "--json").stdout)["paused"] == ["hello"]
        assert again.cli("unpause", "hello").returncode == 0
        assert json.loads(again.cli("status", "--json").stdout)["paused"] == []
    gone = again.cli("status")
    assert gone.returncode == 3 and "not running" in gone.stderr


def _finished_runs(db: Path, count: int) -> list[RunRecord]:
    done = [r for r in runs_of(db, "tatkal") if r.state.finished]
    return done if len(done) == count else []


def _check_precise(db: Path, run: RunRecord, fire_at: datetime) -> None:
    assert run.state is RunState.SUCCESS
    book = attempts_of(db, run.run_id, "book")[0]
    login = attempts_of(db, run.run_id, "login")[0]
    assert login.started_at < fire_at  # the prepare task ran during the lead
    assert book.fire_target_ns == int(fire_at.timestamp() * 1e6) * 1000
    assert book.lateness_us is not None and 0 <= book.lateness_us < 100_000


def test_precise_fires_record_lateness(tmp_path: Path) -> None:
    scheduled = (datetime.now(UTC) + timedelta(seconds=5)).replace(microsecond=0)
    _setup(tmp_path, scheduled)
    daemon = Daemon(tmp_path).start()
    try:
        assert scheduled - datetime.now(UTC) > timedelta(seconds=1)  # armed before the lead
        manual_at = datetime.now(UTC) + timedelta(seconds=2)
        manual = daemon.cli("trigger", "tatkal", "--at", manual_at.isoformat(), "--wait", "--json")
        assert manual.returncode == 0, manual.stderr
        run_id = json.loads(manual.stdout)["run_id"]
        runs = wait_for(lambda: _finished_runs(daemon.db, 2), 15, "both runs")
        fired = daemon.logged("task.fired")
    finally:
        daemon.kill()
    by_id = {r.run_id: r for r in runs}
    _check_precise(daemon.db, by_id.pop(run_id), manual_at)
    [scheduled_run] = by_id.values()
    assert scheduled_run.scheduled_for == scheduled
    _check_precise(daemon.db, scheduled_run, scheduled)
    assert [e["task_id"] for e in fired] == ["book", "book"]
