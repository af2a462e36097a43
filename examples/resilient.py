"""Resilient pipeline (``resilient_pipeline``): har criticality ka alag error handling.

Seed ka sabak, Mumbai monsoon style:
- banking: zero tolerance. Many retries with backoff, and it must succeed before the rest.
- inventory: partial success allowed. In this simulation the Delhi warehouse is
  unreachable on the first attempt of every run and back on the retry, so a run always
  shows one failed attempt followed by a successful one (decided by ``run["attempt"]``,
  not by chance).
- marketing: best effort. Its data source is down in this simulation, the task fails on
  every attempt, and the workflow marks it ``allow_failure`` so the run still succeeds.
"""

from __future__ import annotations

from typing import Any

from simulated import between, run_day

WAREHOUSES = ("warehouse_mumbai", "warehouse_delhi", "warehouse_bangalore")


class WarehouseSyncError(RuntimeError):
    """Fewer than two of three warehouses synced."""


class MarketingSourceDown(ConnectionError):
    """The marketing analytics source did not answer."""


def _transactions(day: str) -> list[dict[str, Any]]:
    count = between(10, 25, "pending", day)
    return [{"id": f"T{n:03d}", "amount": between(1_000, 1_500_000, day, n)} for n in range(count)]


def process_banking_transactions(run: dict[str, Any]) -> dict[str, Any]:
    """Dual write (primary + backup), and both books must agree to the paisa."""
    transactions = _transactions(run_day(run))
    primary = sum(t["amount"] for t in transactions)
    backup = sum(t["amount"] for t in transactions)
    if primary != backup:
        raise RuntimeError(f"primary and backup books differ: {primary} != {backup}")
    return {
        "processed_count": len(transactions),
        "total_amount": primary,
        "high_value": sum(1 for t in transactions if t["amount"] > 1_000_000),
        "success_rate": 100.0,
    }


def reachable_warehouses(attempt: int) -> list[str]:
    """Mumbai is always up, Bangalore is down all day, Delhi comes back from attempt 2."""
    return ["warehouse_mumbai"] + (["warehouse_delhi"] if attempt >= 2 else [])


def sync_ecommerce_inventory(outputs: dict[str, Any], run: dict[str, Any]) -> dict[str, Any]:
    """Teen mein se kam se kam do warehouses sync hone chahiye, warna retry."""
    attempt = int(run["attempt"])
    up = reachable_warehouses(attempt)
    results = {w: {"status": "success" if w in up else "skipped"} for w in WAREHOUSES}
    if len(up) < 2:
        raise WarehouseSyncError(
            f"majority warehouse sync failed on attempt {attempt}: only {up} reachable"
        )
    return {
        "sync_results": results,
        "successful_warehouses": len(up),
        "sync_status": "partial_success",
        "after_banking_batch": outputs["process_banking"]["processed_count"],
    }


def process_marketing_analytics(run: dict[str, Any], source_online: bool = False) -> dict[str, Any]:
    """Marketing analytics, best effort: agar source hi down hai toh fail, pipeline nahi rukti."""
    ds = run_day(run)
    if not source_online:
        raise MarketingSourceDown(f"marketing data for {ds} unavailable: source offline")
    return {"campaigns": {"status": "ok", "day": ds}, "social_media": {"status": "skipped"}}
