"""RBI daily reporting (``rbi_daily_reporting``): 15:00 pe shuru, 16:00 ki deadline se pehle.

Seed ke do parallel kaam: pichhle business day ki transaction report, aur NEFT/RTGS/UPI/
IMPS settlements ka validation. Submission is a separate shell step in the workflow.
The core-banking system is simulated: the same reporting date always gives the same book.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from simulated import between, local_time, pick

SETTLEMENT_SYSTEMS = ("NEFT", "RTGS", "UPI", "IMPS")
FAILURE_ALERT_PCT = 0.1
"""Alert when more than 0.1% of a system's settlements failed (seed's rule)."""


def previous_weekday(day: date) -> date:
    """Pichhla Mon-Fri din (the workflow's calendar decides holidays; this is the fallback)."""
    day -= timedelta(days=1)
    while day.weekday() >= 5:
        day -= timedelta(days=1)
    return day


def reporting_date(run: dict[str, Any], report_date: str | None) -> str:
    """The day being reported: the given one, else the weekday before the run's date."""
    if report_date:
        return date.fromisoformat(report_date).isoformat()
    return previous_weekday(local_time(run).date()).isoformat()


def fetch_bank_transactions(day: str) -> list[dict[str, Any]]:
    """Simulated core banking: 40-80 transactions, amounts from ₹500 to ₹25 lakh."""
    count = between(40, 80, "transactions", day)
    return [
        {
            "txn_id": f"TXN-{day.replace('-', '')}-{n:04d}",
            "account": pick(("SB-1001", "SB-1002", "CA-2001", "CA-2002", "CA-2003"), day, n),
            "amount": between(500, 2_500_000, day, n, "amount"),
        }
        for n in range(1, count + 1)
    ]


def detect_suspicious_patterns(transactions: list[dict[str, Any]]) -> list[str]:
    """Structuring: three or more amounts just under ₹10 lakh on one account."""
    near: dict[str, int] = {}
    for txn in transactions:
        if 900_000 <= txn["amount"] < 1_000_000:
            near[txn["account"]] = near.get(txn["account"], 0) + 1
    return sorted(account for account, n in near.items() if n >= 3)


def generate_daily_transaction_report(
    params: dict[str, Any], run: dict[str, Any], report_date: str | None = None
) -> dict[str, Any]:
    """RBI format mein pichhle business day ki summary; high value = above params.threshold."""
    day = reporting_date(run, report_date)
    threshold = int(params["threshold"])
    transactions = fetch_bank_transactions(day)
    high_value = [t["txn_id"] for t in transactions if t["amount"] > threshold]
    return {
        "report_id": f"RBI-{day.replace('-', '')}",
        "reporting_date": day,
        "total_transactions": len(transactions),
        "total_amount": sum(t["amount"] for t in transactions),
        "high_value_transactions": high_value,
        "suspicious_accounts": detect_suspicious_patterns(transactions),
        "compliance_status": "compliant",
    }


def fetch_settlements(system: str, day: str) -> list[dict[str, Any]]:
    """Simulated clearing house: 200-400 settlements, a few failed or pending."""
    count = between(200, 400, system, day)
    statuses = ("settled",) * 997 + ("failed", "pending", "pending")
    return [
        {"amount": between(100, 200_000, system, day, n), "status": pick(statuses, system, day, n)}
        for n in range(count)
    ]


def _validate_system(system: str, day: str) -> dict[str, Any]:
    settlements = fetch_settlements(system, day)
    failed = sum(1 for s in settlements if s["status"] == "failed")
    rate = round(100.0 * failed / len(settlements), 3)
    return {
        "total_settlements": len(settlements),
        "total_amount": sum(s["amount"] for s in settlements),
        "failed_settlements": failed,
        "pending_settlements": sum(1 for s in settlements if s["status"] == "pending"),
        "failure_rate_pct": rate,
        "alert": rate > FAILURE_ALERT_PCT,
    }


def validate_previous_day_settlements(
    run: dict[str, Any], report_date: str | None = None
) -> dict[str, Any]:
    """NEFT, RTGS, UPI, IMPS: har system ka settlement check karo."""
    day = reporting_date(run, report_date)
    systems = {system: _validate_system(system, day) for system in SETTLEMENT_SYSTEMS}
    return {
        "settlement_date": day,
        "systems": systems,
        "alerts": [name for name, result in systems.items() if result["alert"]],
    }
