"""Deterministic stand-ins for the outside world (banks, IRCTC, warehouses, trains).

Kuch bhi random nahi: every "measurement" is a hash of the question asked, so the same
run (same logical date) always sees the same world, tests can assert exact numbers, and
nothing here touches the network or sleeps. Import has no side effects.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

T = TypeVar("T")


def digest(*key: object) -> int:
    """A stable non-negative integer for ``key`` (same key, same number, every process)."""
    text = "|".join(str(part) for part in key)
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def between(low: int, high: int, *key: object) -> int:
    """A stable integer in ``[low, high]`` chosen by ``key``."""
    return low + digest(*key) % (high - low + 1)


def pick(choices: Sequence[T], *key: object) -> T:
    """A stable element of ``choices`` chosen by ``key``."""
    return choices[digest(*key) % len(choices)]


def local_time(run: dict[str, Any]) -> datetime:
    """The run's logical date in the workflow's own zone (run["timezone"])."""
    instant = datetime.fromisoformat(str(run["logical_date"]))
    return instant.astimezone(ZoneInfo(str(run.get("timezone") or "UTC")))


def run_day(run: dict[str, Any]) -> str:
    """The logical date as YYYY-MM-DD in the workflow's zone (what ``{{ ds }}`` shows)."""
    return local_time(run).date().isoformat()
