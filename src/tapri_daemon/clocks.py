"""The ordinary wall clock behind the Clock seam (the daemon's precise one is in daemon/)."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import anyio


class SystemClock:
    """Clock backed by time.time_ns and anyio sleeps: accurate to the loop's resolution."""

    def now(self) -> datetime:
        return datetime.fromtimestamp(time.time_ns() / 1e9, UTC)

    def time_ns(self) -> int:
        return time.time_ns()

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(max(0.0, seconds))

    async def sleep_until(self, instant: datetime) -> None:
        target = int(instant.timestamp() * 1e9)
        # Re-check the wall clock after each sleep: anyio sleeps on the monotonic clock,
        # and the wall clock may have been stepped meanwhile.
        while (left := target - time.time_ns()) > 0:  # noqa: ASYNC110
            await anyio.sleep(left / 1e9)
