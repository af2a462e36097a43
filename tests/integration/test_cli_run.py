"""`tapri run` and `tapri retry` as a user runs them: real processes, a real SQLite store."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

PWNED = Path("/tmp/pwned")
SECRET = "s3cret-token-for-tapri-run-test"

WORKFLOWS = """
[workflow.demo]
params = { n = 3, label = "daily" }
flow = ["a >> [b, c] >> d"]

[workflow.demo.task.a]
command = ["echo", "{{ params.n }}"]

[workflow.demo.task.b]
shell = "echo '{\\"x\\": 1}' > $TAPRI_OUTPUT"

[workflow.demo.task.c]
python = "demo_tasks:double"

[workflow.demo.task.d]
command = ["echo", "{{ outputs.b.x }}-{{ outputs.c }}"]

[workflow.flaky]
[workflow.flaky.task.first]
command = ["echo", "fine"]
[workflow.flaky.task.maybe]
command = ["sh", "-c", "test -e ok"]
after = "first"
[workflow.flaky.task.last]
command = ["echo", "last"]
after = "maybe"

[workflow.hostile]
params = { quote = "x", subst = "y" }
[workflow.hostile.task.echo]
shell = "printf '%s|%s' {{ params.quote }} {{ params.subst }}"
[workflow.hostile.task.argv]
command = ["printf", "%s", "{{ params.quote }}{{ params.subst }}"]

[workflow.secretive]
[workflow.secretive.task.leak]
command = ["sh", "-c", "echo token=$TOKEN; echo token=$TOKEN >&2; exit 4"]
env = { TOKEN = "${env:TAPRI_TEST_TOKEN}" }

[workflow.sleepy]
[workflow.sleepy.task.nap]
command = ["sleep", "30"]
"""

MODULE = """
async def double(outputs, params):
    return outputs["a"] * 2 + params["n"]
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "workflows.toml").write_text(WORKFLOWS)
    (tmp_path / "demo_tasks.py").write_text(MODULE)
    return tmp_path


def tapri(
    project: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("TAPRI_", "CONFIGURATION"))}
    return subprocess.run(
        [sys.executable, "-m", "tapri_daemon", *args, "--workflows", "workflows.toml",
         "--state-dir", "state"],
        cwd=project,
        env=clean | {"COLUMNS": "200"} | (env or {}),
        capture_output=True,
        text=True,
        timeout=90,
    )  # fmt: skip


def document(done: subprocess.CompletedProcess[str]) -> Any:
    return json.loads(done.stdout)


def test_run_json_document_and_data_passing(project: Path) -> None:
    done = tapri(project, "run", "demo", "--json", "--param", "n=5")
    assert done.returncode == 0, done.stderr
    doc = document(done)
    assert set(doc) == {"run_id", "workflow", "state", "logical_date", "tasks"}
    assert doc["workflow"] == "demo" and doc["state"] == "success"
    assert doc["run_id"].startswith("demo__")
    assert doc["tasks"]["a"] == {"state": "success", "attempts": 1, "output": 5, "reason": None}
    assert doc["tasks"]["b"]["output"] == {"x": 1}
    assert doc["tasks"]["c"]["output"] == 15
    assert doc["tasks"]["d"]["output"] == "1-15"
    events = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    assert "run.finished" in [e["event"] for e in events]  # logs on stderr, stdout is clean


def test_human_output_is_a_table(project: Path) -> None:
    done = tapri(project, "run", "demo")
    assert done.returncode == 0, done.stderr
    assert "state success" in done.stdout
    for task in ("a", "b", "c", "d"):
        assert any(line.split()[:2] == [task, "success"] for line in done.stdout.splitlines())


def test_unknown_param_is_refused(project: Path) -> None:
    done = tapri(project, "run", "demo", "--param", "lable=x")
    assert done.returncode == 1
    assert 'no param "lable" (did you mean "label"?)' in done.stderr
    assert "Traceback" not in done.stderr


def test_failed_run_exits_1_and_retry_reruns_only_what_failed(project: Path) -> None:
    done = tapri(project, "run", "flaky", "--json")
    assert done.returncode == 1
    doc = document(done)
    assert doc["state"] == "failed"
    assert [doc["tasks"][t]["state"] for t in ("first", "maybe", "last")] == [
        "success",
        "failed",
        "upstream_failed",
    ]
    (project / "ok").write_text("")
    again = tapri(project, "retry", doc["run_id"], "--json")
    assert again.returncode == 0, again.stderr
    redo = document(again)
    assert redo["run_id"] == doc["run_id"] and redo["state"] == "success"
    assert redo["tasks"]["first"]["attempts"] == 1
    assert redo["tasks"]["maybe"]["attempts"] == 2
    assert redo["tasks"]["last"]["state"] == "success"
    nothing = tapri(project, "retry", doc["run_id"])
    assert nothing.returncode == 1 and "no failed" in nothing.stderr


def test_shell_injection_through_params_is_impossible(project: Path) -> None:
    PWNED.unlink(missing_ok=True)
    quote, subst = "x'; touch /tmp/pwned #", "$(id)"
    done = tapri(
        project, "run", "hostile", "--json", "--param", f"quote={quote}", "--param",
        f"subst={subst}",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert not PWNED.exists()
    doc = document(done)
    run_dir = project / "state" / "logs" / "hostile" / doc["run_id"]
    logs = {p.name: p.read_text() for p in run_dir.glob("*.log")}
    assert logs.get("echo.1.log", doc["tasks"]["echo"]["output"]) == f"{quote}|{subst}"
    assert doc["tasks"]["argv"]["output"] == quote + subst


def test_secret_never_reaches_store_logs_or_show(project: Path) -> None:
    done = tapri(project, "run", "secretive", "--json", env={"TAPRI_TEST_TOKEN": SECRET})
    assert done.returncode == 1
    doc = document(done)
    show = tapri(project, "show", doc["run_id"], "--json")
    show_text = tapri(project, "show", doc["run_id"])
    db = project / "state" / "tapri.sqlite3"
    with sqlite3.connect(db) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        rows = [str(r) for t in tables for r in conn.execute(f'SELECT * FROM "{t}"')]
    assert any(doc["run_id"] in row for row in rows)
    store_bytes = b"".join(p.read_bytes() for p in db.parent.glob("tapri.sqlite3*"))
    attempt_logs = "".join(p.read_text() for p in (project / "state" / "logs").rglob("*.log"))
    for text in (done.stdout, done.stderr, show.stdout, show_text.stdout, *rows, attempt_logs):
        assert SECRET not in text
    assert SECRET.encode() not in store_bytes
    assert "token=***" in attempt_logs  # the executor masked the task's own output


@pytest.mark.slow
def test_sigint_cancels_the_run(project: Path) -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("TAPRI_", "CONFIGURATION"))}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tapri_daemon", "run", "sleepy", "--json", "--workflows",
         "workflows.toml", "--state-dir", "state"],
        cwd=project, env=clean, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not list((project / "state").rglob("nap.1.log")):
            time.sleep(0.05)
        time.sleep(0.3)
        started = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert time.monotonic() - started < 15
    assert proc.returncode == 1, err
    doc = json.loads(out)
    assert doc["state"] == "cancelled"
    assert doc["tasks"]["nap"]["state"] == "cancelled"


@pytest.mark.slow
def test_a_thousand_tasks_run_at_once_under_ulimit_n_1024(tmp_path: Path) -> None:
    """Through the whole stack (engine, store, executors): 1,000 `sleep` tasks of one run all
    start before the first one ends, with the shell's `ulimit -n 1024` (soft and hard)."""
    tasks = "".join(f'[workflow.wide.task.t{i}]\ncommand = ["sleep", "4"]\n' for i in range(1000))
    (tmp_path / "workflows.toml").write_text("[workflow.wide]\n" + tasks)
    (tmp_path / "tapri.toml").write_text("[daemon]\nmax_parallel_tasks = 1000\n")
    argv = [sys.executable, "-m", "tapri_daemon", "--config", "tapri.toml", "--workflows",
            "workflows.toml", "--state-dir", "state"]  # fmt: skip
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("TAPRI_", "CONFIGURATION"))}
    done = subprocess.run(
        ["sh", "-c", 'ulimit -n 1024 && exec "$@"', "sh", *argv, "run", "wide", "--json"],
        cwd=tmp_path, env=clean, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert "Too many open files" not in done.stdout + done.stderr
    assert done.returncode == 0, done.stderr[-2000:]
    run_id = document(done)["run_id"]
    shown = subprocess.run([*argv, "show", run_id, "--json"], cwd=tmp_path, env=clean,
                           capture_output=True, text=True, timeout=60, check=True)  # fmt: skip
    attempts = [task["attempt_list"][0] for task in document(shown)["tasks"].values()]
    assert len(attempts) == 1000 and {a["outcome"] for a in attempts} == {"success"}
    assert max(a["started_at"] for a in attempts) < min(a["ended_at"] for a in attempts)
    assert done.stderr.count('"relay.started"') == 2
