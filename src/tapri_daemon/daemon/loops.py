"""The daemon's small periodic loops: watchdog and status, clock jumps, file watching.

Each is a plain ``async def`` run in the daemon's task group; what they react to is passed
in as callables, so they know nothing of the engine or APScheduler.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import anyio

from tapri_daemon import logs
from tapri_daemon.daemon import jumps
from tapri_daemon.daemon.reload import FileWatch
from tapri_daemon.daemon.systemd import Notifier

log = logs.get_logger("tapri.daemon")

STATUS_EVERY = 5.0
WATCH_EVERY = 1.0


async def watchdog(notifier: Notifier, status: Callable[[], str]) -> None:
    """``WATCHDOG=1`` every half of ``$WATCHDOG_USEC`` (from the loop, so a blocked loop
    trips it), and a fresh ``STATUS=`` line every few seconds."""
    interval = notifier.watchdog_interval
    period = min(interval, STATUS_EVERY) if interval else STATUS_EVERY
    since_status = 0.0
    while True:
        if interval:
            notifier.watchdog()
        since_status += period
        if since_status >= STATUS_EVERY:
            notifier.status(status())
            since_status = 0.0
        await anyio.sleep(period)


async def clock_jumps(on_jump: Callable[[jumps.Jump], Awaitable[None]]) -> None:
    """Compare the wall clock with the monotonic ones every ``jumps.INTERVAL`` seconds."""
    watch = jumps.JumpWatch(jumps.Sample.take())
    while True:
        await anyio.sleep(jumps.INTERVAL)
        jump = watch.check(jumps.Sample.take())
        if jump is not None:
            log.warning(logs.CLOCK_JUMPED, kind=jump.kind, offset_s=round(jump.offset, 3))
            await on_jump(jump)


async def watch_files(watch: FileWatch, on_change: Callable[[], Awaitable[None]]) -> None:
    """Poll the definition files' modification times every second; reload on a change."""
    while True:
        await anyio.sleep(WATCH_EVERY)
        if watch.changed():
            await on_change()
