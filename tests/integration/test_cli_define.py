"""The define verbs as a user runs them: `python -m tapri_daemon ...` in a subprocess."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
VALID = FIXTURES / "valid" / "workflows.toml"
BROKEN = FIXTURES / "broken"


def tapri(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("TAPRI_CONFIG", "TAPRI_STATE_DIR")}
    env.pop("CONFIGURATION_DIRECTORY", None)
    return subprocess.run(
        [sys.executable, "-m", "tapri_daemon", *map(str, args)],
        cwd=cwd,
        env=env | {"COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=60,
    )


def _problem_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if re.match(r"^\S+\.toml(:\d+)?", line)]


def test_validate_ok(tmp_path: Path) -> None:
    done = tapri("validate", "--workflows", VALID, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "OK: 5 workflows, 12 tasks"


def test_warnings_print_but_do_not_fail(tmp_path: Path) -> None:
    path = tmp_path / "w.toml"
    path.write_text('[workflow.w]\nschedule = "*/7 * * * *"\n[workflow.w.task.t]\nshell = "true"\n')
    done = tapri("validate", "--workflows", path, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "OK: 1 workflows, 1 tasks"
    assert re.search(r"w\.toml:2:\d+: warning: workflow\.w\.schedule: ", done.stderr)


def test_validate_reports_every_problem_with_file_and_line(tmp_path: Path) -> None:
    done = tapri("validate", "--workflows", BROKEN / "many.toml", cwd=tmp_path)
    assert done.returncode == 78
    lines = _problem_lines(done.stderr)
    assert all(re.match(rf"^{re.escape(str(BROKEN / 'many.toml'))}:\d+(:\d+)?: ", x) for x in lines)
    text = "\n".join(lines)
    for expected in (
        r"many\.toml:2:\d+: include\[0\]: included file not found: .*missing_part\.toml",
        r"many\.toml:6:1: defaults\.timeout: 30 is not a duration",
        r"many\.toml:12:1: workflow\.cyclic\.schedule: .*minute",
        r"many\.toml:13:1: workflow\.cyclic\.flow: dependency cycle: a -> b -> c -> a",
        r"many\.toml:25:\d+: workflow\.typos\.schedule\[0\]: .*0 0 30 2 \*",
        r'many\.toml:26:1: workflow\.typos\.timezone: "IST" .*Asia/Kolkata',
        r'many\.toml:27:1: workflow\.typos\.calendar: unknown calendar "nsee" \(did you mean "nse"',
        r'many\.toml:31:1: workflow\.typos\.task\.extract\.retires: .*did you mean "retries"',
        r'many\.toml:35:\d+: workflow\.typos\.task\.load\.after\[0\]: .*did you mean "extract"',
    ):
        assert re.search(expected, text), f"{expected!r} not in:\n{text}"
    assert len(lines) >= 11


def test_duplicate_id_across_two_files_names_both(tmp_path: Path) -> None:
    done = tapri(
        "validate",
        "--workflows",
        BROKEN / "dup_a.toml",
        "--workflows",
        BROKEN / "dup_b.toml",
        cwd=tmp_path,
    )
    assert done.returncode == 78
    [line] = _problem_lines(done.stderr)
    assert "dup_b.toml:3:" in line
    assert "dup_a.toml:4" in line
    assert 'workflow "shared" is defined twice' in line


def test_unreadable_files_each_reported_relative_to_the_working_directory() -> None:
    done = tapri(
        "validate",
        "--workflows",
        BROKEN / "syntax.toml",
        "--workflows",
        BROKEN / "latin1.toml",
        cwd=ROOT,
    )
    assert done.returncode == 78
    syntax, latin1 = _problem_lines(done.stderr)
    assert syntax.startswith("tests/fixtures/broken/syntax.toml:3:13: TOML syntax error: ")
    assert re.match(
        r"tests/fixtures/broken/latin1\.toml:3:\d+: the file is not UTF-8: byte 0xe9", latin1
    )


def test_bad_config_file_exits_78(tmp_path: Path) -> None:
    config = tmp_path / "tapri.toml"
    config.write_text('[daemon]\nworkflows = "w.toml"\nlog_formt = "json"\n', encoding="utf-8")
    done = tapri("validate", "--config", config, cwd=tmp_path)
    assert done.returncode == 78
    assert re.search(
        r'tapri\.toml:3:1: daemon\.log_formt: .*did you mean "log_format"', done.stderr
    )


def test_shipped_workflows_validate() -> None:
    shipped = ROOT / "workflows.toml"
    if not shipped.exists():
        pytest.skip("the shipped workflows.toml is not in this checkout yet")
    done = tapri("validate", cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("OK: ")


def test_schema_equals_the_committed_file(tmp_path: Path) -> None:
    done = tapri("schema", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    committed = (ROOT / "config" / "tapri.schema.json").read_text(encoding="utf-8")
    assert done.stdout == committed, "regenerate: tapri schema > config/tapri.schema.json"
    schema = json.loads(done.stdout)
    assert {"daemon", "metrics", "workflow", "calendar", "defaults"} <= set(schema["properties"])
    assert schema["additionalProperties"] is False


def test_next_json(tmp_path: Path) -> None:
    done = tapri(
        "next",
        "irctc_tatkal",
        "-n",
        "3",
        "--from",
        "2026-03-02T12:00+05:30",
        "--json",
        "--workflows",
        VALID,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert [row["at"] for row in rows] == [
        "2026-03-03T10:00:00+05:30",
        "2026-03-04T10:00:00+05:30",
        "2026-03-05T10:00:00+05:30",
    ]
    assert all(set(row) == {"at"} for row in rows)


def test_next_explain_shows_skipped_and_moved_fires(tmp_path: Path) -> None:
    # extra_holidays has 2026-11-10 (a Tuesday) in the nse calendar
    done = tapri(
        "next",
        "rbi_daily_reporting",
        "-n",
        "2",
        "--from",
        "2026-11-09T16:00+05:30",
        "--explain",
        "--json",
        "--workflows",
        VALID,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    skipped = [row for row in rows if row.get("skipped")]
    assert [row["at"][:10] for row in skipped][:1] == ["2026-11-10"]
    assert all(row["reason"] for row in skipped)
    assert len([row for row in rows if not row.get("skipped")]) == 2
    # a Saturday fire moves to the next working day with next_business_day
    done = tapri(
        "next",
        "settlement",
        "-n",
        "3",
        "--from",
        "2026-03-10T00:00+05:30",
        "--json",
        "--workflows",
        VALID,
        cwd=tmp_path,
    )
    rows = json.loads(done.stdout)
    assert len(rows) == 3
    for row in rows:
        moved_from = datetime.fromisoformat(row["moved_from"])
        at = datetime.fromisoformat(row["at"])
        assert (moved_from.weekday(), moved_from.hour, moved_from.minute) == (5, 9, 0)
        assert at.weekday() < 5 and (at.hour, at.minute) == (9, 0)
        assert moved_from < at and row["reason"]


def test_next_without_explain_hides_skipped_fires(tmp_path: Path) -> None:
    done = tapri(
        "next",
        "rbi_daily_reporting",
        "-n",
        "2",
        "--from",
        "2026-11-09T16:00+05:30",
        "--json",
        "--workflows",
        VALID,
        cwd=tmp_path,
    )
    rows = json.loads(done.stdout)
    assert len(rows) == 2
    assert not any(row.get("skipped") for row in rows)
    assert "2026-11-10" not in "".join(row["at"] for row in rows)


def test_next_human_output(tmp_path: Path) -> None:
    done = tapri("next", "irctc_tatkal", "-n", "2", "--workflows", VALID, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Asia/Kolkata" in done.stdout
    assert done.stdout.count("10:00:00 IST") == 2
    assert done.stdout.count("04:30:00") == 2


def test_unknown_workflow_suggests(tmp_path: Path) -> None:
    done = tapri("next", "irctc_tatkel", "--workflows", VALID, cwd=tmp_path)
    assert done.returncode == 1
    assert 'no workflow "irctc_tatkel" (did you mean "irctc_tatkal"?)' in done.stderr


def test_bad_from_is_a_usage_error(tmp_path: Path) -> None:
    done = tapri("next", "irctc_tatkal", "--from", "tomorrow", "--workflows", VALID, cwd=tmp_path)
    assert done.returncode == 2


def test_list_json(tmp_path: Path) -> None:
    done = tapri("list", "--json", "--workflows", VALID, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    rows = {row["workflow"]: row for row in json.loads(done.stdout)}
    assert rows["irctc_tatkal"]["timezone"] == "Asia/Kolkata"
    assert rows["irctc_tatkal"]["next_fire"].endswith("T10:00:00+05:30")
    assert rows["manual_cleanup"]["next_fire"] is None
    assert rows["rbi_daily_reporting"]["tags"] == ["banking"]
    assert rows["monitoring"]["schedule"] == ["*/5 * * * *", "@daily"]


def test_list_table(tmp_path: Path) -> None:
    done = tapri("list", "--workflows", VALID, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    header = done.stdout.splitlines()[0].split()
    assert header == ["NEXT", "LEFT", "LAST", "PASSED", "WORKFLOW", "SCHEDULE", "STATE"]
    assert "manual_cleanup" in done.stdout and "manual" in done.stdout
    assert "never ran" in done.stdout


def test_list_reads_last_fire_and_state_from_the_store(tmp_path: Path) -> None:
    state = tmp_path / "state"
    asyncio.run(_populate(state / "tapri.sqlite3"))
    done = tapri("list", "--json", "--workflows", VALID, "--state-dir", str(state), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    rows = {row["workflow"]: row for row in json.loads(done.stdout)}
    rbi = rows["rbi_daily_reporting"]
    assert rbi["last_fire"] == "2026-11-24T15:00:00+05:30"
    assert rbi["state"] == "failed" and rbi["passed_s"] > 0
    assert rows["irctc_tatkal"]["state"] == "paused" and rows["irctc_tatkal"]["paused"]
    assert rows["monitoring"]["state"] == "running (1)"
    table = tapri("list", "--workflows", VALID, "--state-dir", str(state), cwd=tmp_path)
    line = next(ln for ln in table.stdout.splitlines() if "rbi_daily_reporting" in ln)
    assert "Tue 2026-11-24 15:00:00 IST" in line and " ago" in line and "failed" in line


async def _populate(db: Path) -> None:
    from tapri_daemon.interfaces import (
        FireRecord,
        FireStatus,
        RunRecord,
        RunState,
        TaskRecord,
        TaskState,
        Trigger,
    )
    from tapri_daemon.store.sqlite import SQLiteStore

    fired = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
    async with SQLiteStore.open(db) as store:
        await store.record_fire(
            FireRecord(
                workflow="rbi_daily_reporting",
                scheduled_for=fired,
                recorded_at=fired,
                status=FireStatus.STARTED,
                run_id="rbi_1",
            )
        )
        for run_id, workflow, run_state in (
            ("rbi_1", "rbi_daily_reporting", RunState.FAILED),
            ("mon_1", "monitoring", RunState.RUNNING),
        ):
            await store.save_run(
                RunRecord(
                    run_id=run_id,
                    workflow=workflow,
                    logical_date=fired,
                    trigger=Trigger.SCHEDULE,
                    state=run_state,
                    queued_at=fired,
                )
            )
        await store.set_paused("irctc_tatkal", True)
        for task_id, task_state in (("generate_report", TaskState.FAILED),):
            await store.save_task(TaskRecord(run_id="rbi_1", task_id=task_id, state=task_state))


def test_graph_colours_tasks_by_their_state_in_a_run(tmp_path: Path) -> None:
    state = tmp_path / "state"
    asyncio.run(_populate(state / "tapri.sqlite3"))
    base = ("--workflows", VALID, "--state-dir", str(state))
    args = ("graph", "rbi_daily_reporting", "--run", "rbi_1")
    mermaid = tapri(*args, "--format", "mermaid", *base, cwd=tmp_path)
    assert mermaid.returncode == 0, mermaid.stderr
    assert "classDef failed fill:#e57373" in mermaid.stdout
    assert "class t_generate_report failed" in mermaid.stdout
    dot = tapri(*args, "--format", "dot", *base, cwd=tmp_path)
    assert '"generate_report" [style=filled, fillcolor="#e57373", tooltip="failed"];' in dot.stdout
    other = tapri("graph", "irctc_tatkal", "--run", "rbi_1", *base, cwd=tmp_path)
    assert other.returncode == 1 and 'no run "rbi_1"' in other.stderr


def test_graph_mermaid(tmp_path: Path) -> None:
    done = tapri("graph", "irctc_tatkal", "--format", "mermaid", "--workflows", VALID, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "flowchart LR"
    for edge in (
        "t_prepare --> t_book_chrome",
        "t_prepare --> t_book_firefox",
        "t_book_chrome --> t_notify",
        "t_book_firefox --> t_notify",
    ):
        assert f"    {edge}" in lines
    assert any(line.strip().startswith("subgraph race_booking") for line in lines)


def test_graph_text_and_dot(tmp_path: Path) -> None:
    text = tapri("graph", "irctc_tatkal", "--workflows", VALID, cwd=tmp_path).stdout
    assert text.splitlines()[0] == "irctc_tatkal: 4 tasks in 3 levels"
    dot = tapri("graph", "irctc_tatkal", "--format", "dot", "--workflows", VALID, cwd=tmp_path)
    assert '"prepare" -> "book_chrome";' in dot.stdout
    assert dot.stdout.startswith('digraph "irctc_tatkal" {')


def test_calendar_json(tmp_path: Path) -> None:
    done = tapri("calendar", "nse", "--year", "2026", "--json", "--workflows", VALID, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    holidays = {row["date"]: row["name"] for row in data["holidays"]}
    assert "2026-11-10" in holidays
    assert "2026-01-26" in holidays  # Republic Day, from country IN and market XNSE
    assert all(name for name in holidays.values())
    assert data["extra_workdays"] == [{"date": "2026-11-08", "weekday": "sun"}]
    assert data["year"] == 2026


def test_unknown_calendar(tmp_path: Path) -> None:
    done = tapri("calendar", "nsee", "--workflows", VALID, cwd=tmp_path)
    assert done.returncode == 1
    assert 'did you mean "nse"' in done.stderr
