"""The shipped workflows, through the real CLI in real subprocesses.

``tapri validate`` must accept the shipped files as they are (cwd = the repository, so
``config/tapri.toml`` is the settings file). Each example workflow then runs once with
``tapri run WF --json`` against a fresh state directory. The runs use a copy of
``workflows.toml`` and ``examples/`` in a temporary folder, so the orders database and
anything else a run writes stay out of the checkout; the layout (and so every relative
path in the file) is the same as in the repository. They run from an unrelated, empty
working directory (as under systemd, whose services start in ``/``), so a relative path
that is taken from the process's working directory instead of the workflow file's folder
shows up as a failure.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = (
    "mumbai_local_schedule",
    "dabbawala_delivery",
    "rbi_daily_reporting",
    "irctc_tatkal",
    "flipkart_order_processing",
    "resilient_pipeline",
    "monitoring",
)


def tapri(*args: str, cwd: Path = ROOT, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tapri_daemon", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture
def sandbox(tmp_path: Path) -> Path:
    """A copy of the shipped definitions and examples (without caches or databases)."""
    shutil.copy(ROOT / "workflows.toml", tmp_path / "workflows.toml")
    shutil.copytree(
        ROOT / "examples",
        tmp_path / "examples",
        ignore=shutil.ignore_patterns("__pycache__", "*.db", "*.db-*"),
    )
    return tmp_path


def run_workflow(
    sandbox: Path, workflow: str, *extra: str
) -> tuple[subprocess.CompletedProcess[str], Any]:
    elsewhere = sandbox / "elsewhere"
    elsewhere.mkdir()
    result = tapri(
        "run",
        workflow,
        "--json",
        "--config",
        str(ROOT / "config" / "tapri.toml"),
        "--workflows",
        str(sandbox / "workflows.toml"),
        "--state-dir",
        str(sandbox / "state"),
        *extra,
        cwd=elsewhere,
    )
    try:
        document = json.loads(result.stdout)
    except json.JSONDecodeError:
        pytest.fail(
            f"no JSON from tapri run {workflow} (exit {result.returncode}):\n"
            f"stdout:\n{result.stdout[-3000:]}\nstderr:\n{result.stderr[-3000:]}"
        )
    return result, document


def explain(document: Any, result: subprocess.CompletedProcess[str]) -> str:
    tasks = {k: (v["state"], v["attempts"], v.get("reason")) for k, v in document["tasks"].items()}
    return f"run {document['state']}: {tasks}\nstderr tail:\n{result.stderr[-2000:]}"


def test_validate_accepts_the_shipped_files() -> None:
    result = tapri("validate")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "OK: 7 workflows, 32 tasks" in result.stdout


@pytest.mark.slow
@pytest.mark.parametrize("workflow", WORKFLOWS)
def test_example_runs_green(sandbox: Path, workflow: str) -> None:
    result, document = run_workflow(sandbox, workflow)
    assert result.returncode == 0, explain(document, result)
    assert document["workflow"] == workflow
    assert document["state"] == "success", explain(document, result)
    CHECKS[workflow](document["tasks"], sandbox, document)


@pytest.mark.slow
def test_tatkal_sold_out_still_notifies(sandbox: Path) -> None:
    result, document = run_workflow(sandbox, "irctc_tatkal", "--param", "sold_out=true")
    tasks = document["tasks"]
    assert result.returncode == 1, explain(document, result)
    assert document["state"] == "failed"
    assert tasks["book_chrome"]["state"] == tasks["book_firefox"]["state"] == "failed"
    assert "sold out" in (tasks["book_firefox"]["reason"] or "")
    assert tasks["notify"]["state"] == "success", tasks["notify"]  # all_done: runs anyway
    assert tasks["notify"]["output"]["booked"] is False
    assert tasks["notify"]["output"]["pnr"] == "none"


def _all_succeeded(tasks: dict[str, Any], *, except_: tuple[str, ...] = ()) -> None:
    for name, task in tasks.items():
        if name not in except_:
            assert task["state"] == "success", (name, task)


def check_mumbai(tasks: dict[str, Any], sandbox: Path, document: Any) -> None:
    _all_succeeded(tasks)
    assert list(tasks) == ["check_platform", "dispatch_train", "update_passengers"]
    train = tasks["dispatch_train"]["output"]["train_id"]
    assert tasks["update_passengers"]["output"]["dispatched"] == train


def check_dabbawala(tasks: dict[str, Any], sandbox: Path, document: Any) -> None:
    _all_succeeded(tasks)
    collected = sum(
        tasks[f"collect_{a}"]["output"]["collected"]
        for a in ("kandivali", "malad", "goregaon", "jogeshwari")
    )
    delivered = tasks["deliver_to_offices"]["output"]["total_deliveries"]
    assert delivered == collected
    assert tasks["return_empties"]["output"] == {"empties_returned": delivered}


def check_rbi(tasks: dict[str, Any], sandbox: Path, document: Any) -> None:
    _all_succeeded(tasks)
    report = tasks["generate_report"]["output"]
    submitted = tasks["submit_to_rbi"]["output"]
    assert submitted["submitted"] is True
    assert submitted["report_id"] == report["report_id"]
    assert submitted["settlement_alerts"] == len(tasks["validate_settlements"]["output"]["alerts"])


def check_tatkal(tasks: dict[str, Any], sandbox: Path, document: Any) -> None:
    booking = [tasks["book_chrome"], tasks["book_firefox"]]
    winners = [t for t in booking if t["state"] == "success"]
    assert len(winners) == 1, booking
    assert {t["state"] for t in booking} == {"success", "cancelled"}
    assert tasks["prepare"]["state"] == "success"
    assert tasks["notify"]["state"] == "success", tasks["notify"]
    pnr = winners[0]["output"]["pnr"]
    assert tasks["notify"]["output"]["pnr"] == pnr
    assert tasks["notify"]["output"]["booked"] is True


def check_flipkart(tasks: dict[str, Any], sandbox: Path, document: Any) -> None:
    _all_succeeded(tasks)
    confirmed = tasks["confirm_order"]["output"]
    database = sandbox / "examples" / "orders.db"
    with sqlite3.connect(database) as db:
        row = db.execute(
            "SELECT confirmed, total_value FROM order_batches WHERE run_id = ?",
            (document["run_id"],),
        ).fetchone()
    assert row == (confirmed["confirmed"], confirmed["total_value"])


def check_resilient(tasks: dict[str, Any], sandbox: Path, document: Any) -> None:
    assert tasks["process_banking"]["state"] == "success"
    assert tasks["process_banking"]["attempts"] == 1
    assert tasks["sync_inventory"]["state"] == "success"
    assert tasks["sync_inventory"]["attempts"] == 2  # failed once, then the retry worked
    assert tasks["sync_inventory"]["output"]["successful_warehouses"] == 2
    marketing = tasks["marketing_analytics"]
    assert marketing["state"] == "failed"  # allowed: the run above is still a success
    assert marketing["attempts"] == 2
    assert "source offline" in (marketing["reason"] or "")


def check_monitoring(tasks: dict[str, Any], sandbox: Path, document: Any) -> None:
    _all_succeeded(tasks)
    alerts = (
        tasks["monitor_system_health"]["output"]["alerts"]
        + tasks["monitor_business_metrics"]["output"]["alerts"]
    )
    report = tasks["generate_monitoring_report"]["output"]
    assert report["critical_issues"] == alerts
    assert report["overall_health_score"] == max(0, 100 - 10 * len(alerts))


CHECKS = {
    "mumbai_local_schedule": check_mumbai,
    "dabbawala_delivery": check_dabbawala,
    "rbi_daily_reporting": check_rbi,
    "irctc_tatkal": check_tatkal,
    "flipkart_order_processing": check_flipkart,
    "resilient_pipeline": check_resilient,
    "monitoring": check_monitoring,
}
