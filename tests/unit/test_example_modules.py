"""The example modules behind the shipped workflows, called directly with small inputs.

They simulate the outside world deterministically, so every figure here is exact. The
last tests tie them to ``workflows.toml``: each ``python = "module:function"`` exists, and
each of its parameters is something tapri injects (params, outputs, run, an ``args`` key)
or has a default.
"""

from __future__ import annotations

import importlib
import inspect
import json
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tapri_daemon.model import Definitions

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
MODULES = (
    "simulated",
    "mumbai_local",
    "dabbawala",
    "banking",
    "tatkal",
    "tatkal_notify",
    "flipkart",
    "resilient",
    "monitoring",
)
INJECTED = {"params", "outputs", "run"}


@pytest.fixture(scope="module")
def ex() -> Iterator[dict[str, ModuleType]]:
    """The example modules, imported from examples/ (then removed from sys.path again)."""
    sys.path.insert(0, str(EXAMPLES))
    try:
        yield {name: importlib.import_module(name) for name in MODULES}
    finally:
        sys.path.remove(str(EXAMPLES))
        for name in MODULES:
            sys.modules.pop(name, None)


def make_run(logical_date: str = "2026-03-02T00:30:00+00:00", attempt: int = 1) -> dict[str, Any]:
    return {
        "run_id": "run-1",
        "workflow": "test",
        "logical_date": logical_date,
        "data_interval_start": logical_date,
        "data_interval_end": logical_date,
        "trigger": "manual",
        "attempt": attempt,
        "timezone": "Asia/Kolkata",
    }


# --- simulated --------------------------------------------------------------------------


def test_simulated_values_are_stable_and_in_range(ex: dict[str, ModuleType]) -> None:
    sim = ex["simulated"]
    assert sim.digest("a", 1) == sim.digest("a", 1)
    assert sim.digest("a", 1) != sim.digest("a", 2)
    values = {sim.between(3, 6, "k", n) for n in range(200)}
    assert values == {3, 4, 5, 6}
    assert sim.pick(("x", "y"), "k") in ("x", "y")


def test_run_day_is_the_local_date(ex: dict[str, ModuleType]) -> None:
    # 20:00 UTC on the 1st is 01:30 IST on the 2nd.
    assert ex["simulated"].run_day(make_run("2026-03-01T20:00:00+00:00")) == "2026-03-02"


# --- mumbai local ------------------------------------------------------------------------


async def test_mumbai_local_chain(ex: dict[str, ModuleType]) -> None:
    ml = ex["mumbai_local"]
    run = make_run("2026-03-02T00:30:00+00:00")  # 06:00 IST
    outputs = {"check_platform": ml.check_platform(run)}
    outputs["dispatch_train"] = ml.dispatch_train(outputs, run)
    board = await ml.update_passengers(outputs, run)
    assert outputs["dispatch_train"]["train_id"] == "train_060000"
    assert outputs["dispatch_train"]["platform"] == "dadar_platform_1"
    assert board["next_train"] == "06:03"
    assert board["display_board"] == "अगली ट्रेन: 06:03"


def test_mumbai_busy_platform_fails(ex: dict[str, ModuleType]) -> None:
    with pytest.raises(RuntimeError, match="dadar_platform_9 is busy"):
        ex["mumbai_local"].check_platform(make_run(), platform="dadar_platform_9")


# --- dabbawala ---------------------------------------------------------------------------


def _dabba_outputs(dw: ModuleType, run: dict[str, Any]) -> dict[str, Any]:
    return {f"collect_{a}": dw.collect_tiffins(a, run) for a in dw.AREA_STATIONS}


def test_dabbawala_collection_is_deterministic(ex: dict[str, ModuleType]) -> None:
    dw = ex["dabbawala"]
    first = dw.collect_tiffins("malad", make_run())
    assert first == dw.collect_tiffins("malad", make_run())
    assert 3 <= first["collected"] == len(first["tiffins"]) <= 6
    assert all(t["pickup_station"] == "Malad" for t in first["tiffins"])
    with pytest.raises(ValueError, match="unknown collection area"):
        dw.collect_tiffins("andheri", make_run())


async def test_dabbawala_full_chain_delivers_everything(ex: dict[str, ModuleType]) -> None:
    dw = ex["dabbawala"]
    run = make_run()
    outputs = _dabba_outputs(dw, run)
    collected = sum(o["collected"] for o in outputs.values())
    outputs["sort_tiffins"] = dw.sort_tiffins(outputs)
    outputs["load_on_trains"] = dw.load_on_trains(outputs, run)
    delivered = await dw.deliver_to_offices(outputs)
    assert outputs["sort_tiffins"]["total_tiffins"] == collected
    loaded = [
        t for leg in outputs["load_on_trains"]["loading_plan"].values() for t in leg["tiffin_ids"]
    ]
    assert len(loaded) == len(set(loaded)) == collected
    assert delivered["total_deliveries"] == collected
    assert delivered["accuracy_rate"] == 100.0


def test_dabbawala_wrong_colour_code_is_caught(ex: dict[str, ModuleType]) -> None:
    dw = ex["dabbawala"]
    outputs = _dabba_outputs(dw, make_run())
    outputs["collect_malad"]["tiffins"][0]["color_code"] = "XX-XX-00"
    with pytest.raises(ValueError, match="should be"):
        dw.sort_tiffins(outputs)


# --- banking (RBI) -----------------------------------------------------------------------


def test_rbi_report_date_and_threshold(ex: dict[str, ModuleType]) -> None:
    bk = ex["banking"]
    monday = make_run("2026-03-02T09:30:00+00:00")
    report = bk.generate_daily_transaction_report({"threshold": 1_000_000}, monday)
    assert report["reporting_date"] == "2026-02-27"  # the Friday before
    assert report["report_id"] == "RBI-20260227"
    lower = bk.generate_daily_transaction_report({"threshold": 100_000}, monday)
    assert len(lower["high_value_transactions"]) > len(report["high_value_transactions"])
    assert lower["total_amount"] == report["total_amount"]
    given = bk.generate_daily_transaction_report({"threshold": 1}, monday, "2026-01-05")
    assert given["reporting_date"] == "2026-01-05"


def test_rbi_structuring_detection(ex: dict[str, ModuleType]) -> None:
    txns = [{"account": "A", "amount": 950_000}] * 3 + [{"account": "B", "amount": 950_000}] * 2
    assert ex["banking"].detect_suspicious_patterns(txns) == ["A"]


def test_rbi_settlement_alert_above_point_one_percent(
    ex: dict[str, ModuleType], monkeypatch: pytest.MonkeyPatch
) -> None:
    bk = ex["banking"]
    rows = [{"amount": 10, "status": "settled"}] * 99 + [{"amount": 10, "status": "failed"}]
    monkeypatch.setattr(bk, "fetch_settlements", lambda system, day: rows)
    result = bk.validate_previous_day_settlements(make_run(), "2026-02-27")
    assert result["alerts"] == ["NEFT", "RTGS", "UPI", "IMPS"]
    assert result["systems"]["UPI"]["failure_rate_pct"] == 1.0
    assert result["systems"]["UPI"]["total_amount"] == 1000


# --- tatkal ------------------------------------------------------------------------------


async def test_tatkal_prepare_and_book(ex: dict[str, ModuleType]) -> None:
    tk = ex["tatkal"]
    run = make_run("2026-03-02T04:30:00+00:00")
    outputs = {"prepare": tk.prepare_sessions(run)}
    assert outputs["prepare"]["prepared_sessions"] == 2
    firefox = await tk.book("firefox", outputs, run, {"sold_out": False})
    chrome = await tk.book("chrome", outputs, run, {})
    assert firefox["pnr"] == chrome["pnr"] == tk.pnr_for("2026-03-02")
    assert len(firefox["pnr"]) == 10 and firefox["pnr"].isdigit()
    assert firefox["browser"] == "firefox" and firefox["status"] == "confirmed"
    with pytest.raises(RuntimeError, match="no prepared edge session"):
        await tk.book("edge", outputs, run, {})
    with pytest.raises(tk.SoldOut, match="firefox: Tatkal quota for 12952 is sold out"):
        await tk.book("firefox", outputs, run, {"sold_out": True})
    with pytest.raises(ValueError, match="opera"):
        tk.prepare_sessions(run, ["opera"])


def test_tatkal_notify_writes_its_output(
    ex: dict[str, ModuleType],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    target = tmp_path / "out.json"
    monkeypatch.setenv("TAPRI_OUTPUT", str(target))
    assert ex["tatkal_notify"].main(["--pnr", "4512345678", "--date", "2026-03-02"]) == 0
    written = json.loads(target.read_text())
    assert written["pnr"] == "4512345678" and written["booked"] is True
    assert "PNR 4512345678" in capsys.readouterr().out
    assert ex["tatkal_notify"].result("none")["booked"] is False


# --- flipkart ----------------------------------------------------------------------------


def test_flipkart_receive_is_deterministic(ex: dict[str, ModuleType]) -> None:
    fk = ex["flipkart"]
    batch = fk.receive_order(make_run(), max_orders=4)
    assert batch == fk.receive_order(make_run(), max_orders=4)
    assert 1 <= batch["total_orders"] == len(batch["orders"]) <= 4


def test_flipkart_payment_rules_and_fan_in(ex: dict[str, ModuleType]) -> None:
    fk = ex["flipkart"]
    orders = [
        _order("OD1", "cod", 70_000),
        _order("OD2", "credit_card", 70_000),
        _order("OD3", "upi", 500),
    ]
    outputs: dict[str, Any] = {"receive_order": {"orders": orders}}
    for step in ("verify_payment", "check_inventory", "notify_seller", "assign_shipping"):
        outputs[step] = getattr(fk, step)(outputs)
    assert outputs["verify_payment"]["manual_review"] == ["OD2"]
    assert set(outputs["verify_payment"]["approved"]) == {"OD1", "OD2", "OD3"}
    outputs["check_inventory"]["allocations"]["OD3"]["available"] = False
    confirmed = fk.confirm_order(outputs)
    assert confirmed["confirmed_ids"] == ["OD1", "OD2"]
    assert confirmed["held"] == ["OD3"]
    assert confirmed["total_value"] == 140_000
    assert outputs["notify_seller"]["sellers_notified"] == 3


def _order(order_id: str, method: str, amount: int) -> dict[str, Any]:
    return {
        "order_id": order_id,
        "payment_method": method,
        "amount": amount,
        "delivery_address": {"city": "Pune", "state": "Maharashtra", "pincode": "411001"},
        "items": [{"product_id": "P100", "quantity": 1}],
    }


# --- resilient ---------------------------------------------------------------------------


def test_resilient_inventory_fails_first_attempt_only(ex: dict[str, ModuleType]) -> None:
    rs = ex["resilient"]
    banking = rs.process_banking_transactions(make_run())
    outputs = {"process_banking": banking}
    with pytest.raises(rs.WarehouseSyncError, match="attempt 1"):
        rs.sync_ecommerce_inventory(outputs, make_run(attempt=1))
    second = rs.sync_ecommerce_inventory(outputs, make_run(attempt=2))
    assert second["successful_warehouses"] == 2
    assert second["after_banking_batch"] == banking["processed_count"]


def test_resilient_marketing_fails_while_its_source_is_down(ex: dict[str, ModuleType]) -> None:
    rs = ex["resilient"]
    with pytest.raises(rs.MarketingSourceDown, match="2026-03-02"):
        rs.process_marketing_analytics(make_run())
    assert (
        rs.process_marketing_analytics(make_run(), source_online=True)["campaigns"]["status"]
        == "ok"
    )


# --- monitoring --------------------------------------------------------------------------


def test_monitoring_report_counts_every_alert(ex: dict[str, ModuleType]) -> None:
    mon = ex["monitoring"]
    system = {"alerts": ["a", "b"]}
    business = {"alerts": ["c"], "festival": "Diwali 2026"}
    report = mon.generate_monitoring_report(
        {"monitor_system_health": system, "monitor_business_metrics": business}
    )
    assert report["critical_issues"] == ["a", "b", "c"]
    assert report["overall_health_score"] == 70


async def test_monitoring_business_metrics_modes(ex: dict[str, ModuleType]) -> None:
    mon = ex["monitoring"]
    night = await mon.monitor_business_metrics(make_run("2026-11-03T20:30:00+00:00"), {})
    assert night["monitoring_mode"] == "off_hours"  # 02:00 IST
    assert night["festival"] == "Diwali 2026"
    strict = await mon.monitor_business_metrics(make_run(), {"min_payment_success_pct": 100.1})
    assert any("payment success rate" in a for a in strict["alerts"])
    health = mon.monitor_system_health(make_run())
    assert set(health["payment_gateways"]) == set(mon.GATEWAYS)


# --- the modules against workflows.toml --------------------------------------------------


def _python_tasks() -> list[tuple[str, str, str, dict[str, Any]]]:
    with (ROOT / "workflows.toml").open("rb") as handle:
        definitions = Definitions.model_validate(tomllib.load(handle))
    return [
        (wf_id, task_id, task.python, dict(task.args))
        for wf_id, wf in definitions.workflow.items()
        for task_id, task in wf.task.items()
        if task.python
    ]


def test_every_python_task_matches_its_function(ex: dict[str, ModuleType]) -> None:
    tasks = _python_tasks()
    assert len(tasks) >= 20
    for wf_id, task_id, target, args in tasks:
        module_name, _, function_name = target.partition(":")
        function = getattr(ex[module_name], function_name)
        signature = inspect.signature(function)
        where = f"{wf_id}.{task_id} ({target})"
        assert set(args) <= set(signature.parameters), f"{where}: unknown args"
        for name, parameter in signature.parameters.items():
            supplied = name in INJECTED or name in args
            assert supplied or parameter.default is not inspect.Parameter.empty, (
                f"{where}: nothing supplies parameter {name!r}"
            )


def test_modules_import_without_output(capsys: pytest.CaptureFixture[str]) -> None:
    sys.path.insert(0, str(EXAMPLES))
    try:
        for name in MODULES:
            sys.modules.pop(name, None)
            importlib.import_module(name)
    finally:
        sys.path.remove(str(EXAMPLES))
        for name in MODULES:
            sys.modules.pop(name, None)
    assert capsys.readouterr() == ("", "")
