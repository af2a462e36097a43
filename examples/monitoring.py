"""Business monitoring (``monitoring``): har 10 minute, do checks saath saath, phir report.

``monitor_system_health`` (database, payment gateways, regional servers) and
``monitor_business_metrics`` (orders, payment success, festival season) run in
parallel; ``generate_monitoring_report`` reads both outputs. All readings are simulated
from the run's logical time, so a given run always reports the same numbers.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from simulated import between, local_time

GATEWAYS = ("paytm", "phonepe", "razorpay", "cashfree")
REGIONS = ("mumbai", "bangalore", "delhi", "hyderabad")
FESTIVALS = {
    "Diwali 2026": (date(2026, 11, 1), date(2026, 11, 12)),
    "Diwali 2027": (date(2027, 10, 22), date(2027, 11, 2)),
}
"""Festival windows when traffic runs 10-20x normal (simulated calendar)."""


def festival_on(day: date) -> str | None:
    """The festival season ``day`` falls in, if any."""
    return next((name for name, (a, b) in FESTIVALS.items() if a <= day <= b), None)


def _gateway(name: str, key: str) -> dict[str, Any]:
    ms = between(120, 6_000, name, key)
    return {"response_time_ms": ms, "status": "healthy" if ms < 2_000 else "slow"}


def _server(city: str, key: str) -> dict[str, Any]:
    cpu = between(20, 95, city, key, "cpu")
    return {
        "cpu_usage": cpu,
        "memory_usage": between(30, 85, city, key, "mem"),
        "status": "healthy" if cpu <= 80 else "hot",
    }


def monitor_system_health(run: dict[str, Any]) -> dict[str, Any]:
    """Database, payment gateways aur regional servers ki sehat."""
    key = str(run["logical_date"])
    active = between(10, 100, key, "db")
    gateways = {g: _gateway(g, key) for g in GATEWAYS}
    servers = {c: _server(c, key) for c in REGIONS}
    alerts = [
        f"payment gateway {g} is slow" for g, v in gateways.items() if v["response_time_ms"] > 5_000
    ]
    alerts += [f"{c} server high CPU usage" for c, v in servers.items() if v["status"] == "hot"]
    if active / 100 > 0.8:
        alerts.append("database connection pool nearing capacity")
    return {
        "database": {"active_connections": active, "max_connections": 100},
        "payment_gateways": gateways,
        "regional_servers": servers,
        "alerts": alerts,
    }


async def monitor_business_metrics(run: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """Orders aur payments; peak hours 09:00-21:00 IST, aur festival season ka dhyaan."""
    now = local_time(run)
    key = str(run["logical_date"])
    peak = 9 <= now.hour <= 21
    orders = between(400, 2_000, key, "orders") // (1 if peak else 3)
    paid = orders - between(0, orders // 10, key, "failed")
    success = round(100.0 * paid / orders, 2)
    festival = festival_on(now.date())
    alerts = []
    if success < float(params.get("min_payment_success_pct", 95)):
        alerts.append(f"payment success rate below threshold: {success}%")
    return {
        "orders_per_minute": round(orders / 10, 1),
        "payment_success_rate": success,
        "monitoring_mode": "peak_hours" if peak else "off_hours",
        "festival": festival,
        "alerts": alerts,
    }


def health_score(system: dict[str, Any], business: dict[str, Any]) -> int:
    """100 minus 10 per alert, never below 0."""
    return max(0, 100 - 10 * (len(system["alerts"]) + len(business["alerts"])))


def generate_monitoring_report(outputs: dict[str, Any]) -> dict[str, Any]:
    """Leadership, engineering aur business ops, teeno ke liye ek report."""
    system = outputs["monitor_system_health"]
    business = outputs["monitor_business_metrics"]
    issues = system["alerts"] + business["alerts"]
    return {
        "reports_generated": 3,
        "overall_health_score": health_score(system, business),
        "critical_issues_count": len(issues),
        "critical_issues": issues,
        "festival": business["festival"],
    }
