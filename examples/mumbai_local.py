"""Mumbai local: har 3 minute mein ek train (workflow ``mumbai_local_schedule``).

Seed ka pehla DAG: platform check karo, train dispatch karo, passengers ko batao.
``check_platform >> dispatch_train >> update_passengers``. The platform, the signal and
the display board are simulated here, deterministically.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from simulated import local_time

HEADWAY = timedelta(minutes=3)
"""Do trains ke beech ka gap: the workflow fires every 3 minutes."""

BLOCKED_PLATFORMS = {"dadar_platform_9": "rake under maintenance"}
"""Platforms that are occupied in the simulated world (everything else is free)."""


def platform_status(platform: str) -> str:
    """Platform khali hai ya nahi: "occupied" or "available"."""
    return "occupied" if platform in BLOCKED_PLATFORMS else "available"


def check_platform(run: dict[str, Any], platform: str = "dadar_platform_1") -> dict[str, Any]:
    """Platform khali hai ya nahi check karo; busy ho toh task fail (aur retry)."""
    if platform_status(platform) == "occupied":
        reason = BLOCKED_PLATFORMS[platform]
        raise RuntimeError(f"platform {platform} is busy ({reason}), wait karo")
    return {"platform": platform, "status": "available", "checked_for": run["logical_date"]}


def dispatch_train(outputs: dict[str, Any], run: dict[str, Any]) -> dict[str, Any]:
    """Train ko signal do: the train id comes from the scheduled minute, not the wall clock."""
    departure = local_time(run)
    train_id = f"train_{departure:%H%M%S}"
    return {
        "train_id": train_id,
        "platform": outputs["check_platform"]["platform"],
        "signal": "proceed",
        "departure": departure.strftime("%H:%M"),
    }


async def update_passengers(outputs: dict[str, Any], run: dict[str, Any]) -> dict[str, Any]:
    """Passengers ko next train ka time batao (display board, Hindi mein)."""
    next_train = (local_time(run) + HEADWAY).strftime("%H:%M")
    dispatched = outputs["dispatch_train"]["train_id"]
    return {
        "display_board": f"अगली ट्रेन: {next_train}",
        "dispatched": dispatched,
        "next_train": next_train,
    }
