"""IRCTC Tatkal (``irctc_tatkal``): 10:00:00 sharp, do browsers ki race.

Seed ka plan: pehle sessions ready karo (login, captcha, payment pre-fill), phir 10:00:00
pe har browser se booking, jo pehle confirm ho woh jeeta. In tapri the waiting and the
race are the scheduler's job (``at_fire``, ``fire_offset``, ``race``), so ``book`` only
books. IRCTC is simulated: no network, each browser has a fixed response time.
"""

from __future__ import annotations

import asyncio
from typing import Any

from simulated import between, digest, run_day

JOURNEY = {
    "from_station": "MUMBAI CENTRAL",
    "to_station": "NEW DELHI",
    "train_number": "12952",
    "train_name": "Rajdhani Express",
    "class": "2A",
    "quota": "TQ",
}
RESPONSE_SECONDS = {"chrome": 0.15, "firefox": 0.05, "edge": 0.2}
"""Simulated time from request to confirmation, per browser (kept well under 0.2 s)."""


def prepare_sessions(run: dict[str, Any], browsers: list[str] | None = None) -> dict[str, Any]:
    """Booking se pehle: login, captcha pre-solve, payment pre-fill, har browser mein."""
    chosen = browsers or ["chrome", "firefox"]
    unknown = sorted(set(chosen) - set(RESPONSE_SECONDS))
    if unknown:
        raise ValueError(f"no simulated session for browsers {unknown}")
    sessions = [
        {"browser": b, "captcha_token": f"cap-{digest(b, run['run_id']) % 10**8:08d}"}
        for b in chosen
    ]
    return {"prepared_sessions": len(sessions), "sessions": sessions, "journey": JOURNEY}


def pnr_for(day: str) -> str:
    """The PNR IRCTC gives this journey on ``day`` (10 digits, stable)."""
    return f"{between(2_000_000_000, 8_999_999_999, 'pnr', day)}"


class SoldOut(RuntimeError):
    """The Tatkal quota was gone before this request got through."""


async def book(
    browser: str, outputs: dict[str, Any], run: dict[str, Any], params: dict[str, Any]
) -> dict[str, Any]:
    """Ek browser se Tatkal booking; the slower browser is cancelled by the race.

    ``params["sold_out"]`` simulates the bad day: every request is refused.
    """
    ready = {s["browser"] for s in outputs["prepare"]["sessions"]}
    if browser not in ready:
        raise RuntimeError(f"no prepared {browser} session; prepared: {sorted(ready)}")
    await asyncio.sleep(RESPONSE_SECONDS[browser])
    if params.get("sold_out"):
        raise SoldOut(f"{browser}: Tatkal quota for {JOURNEY['train_number']} is sold out")
    day = run_day(run)
    coach = between(1, 4, "coach", day)
    berth = between(1, 40, "berth", day)
    return {
        "status": "confirmed",
        "pnr": pnr_for(day),
        "seats": [f"A{coach}-{berth}", f"A{coach}-{berth + 1}"],
        "browser": browser,
        "train": JOURNEY["train_number"],
    }
