"""Armed launches for precise fires: everything slow before the instant, a release at it.

The engine hands an ``at_fire`` attempt over before its instant (``request.fire_at_ns``).

Process attempts (command, shell, sync python) are *armed*: the process is spawned at
once, boosted where allowed (below), and prepares (the command's launcher starts; the
python worker imports the task's module and binds its arguments), writes ``ready`` on its
**status pipe**, then blocks reading its **release pipe**. ``RELEASE_LEAD_NS`` (200 ms)
before the instant, on the executor's clock, the daemon writes one byte: the go-ahead. The
process wakes, sleeps until 2 ms before the instant, spins on ``time.time_ns()`` until the
instant, stamps it, writes ``go NS``, drops its boost and runs the task's code at once
(``execv`` of the command, the function call). The stamp is the attempt's actual start
(``AttemptResult.released_ns``), never before the instant: the process reads the wall clock
itself, and never runs anything without the go-ahead. An instant already past releases at
once and the process starts as soon as it is ready. Cancelling an attempt in the last
200 ms kills its process (TERM, grace, KILL) before it runs anything, like any other time.

Status pipe lines, written by the armed process (close-on-exec on its side):

    ready                 prepared, now waiting for the release
    go NS                 started at NS (time.time_ns)
    error TEXT            the command could not be executed (the launcher exits 127)

The daemon reads them once the process has ended (they fit in the pipe buffer), and
peeks for ``ready`` at the release. If the release pipe reaches end-of-file instead (the
attempt was cancelled, the daemon died) the process exits 75 without running anything.

Priority, where the kernel allows it (root, ``CAP_SYS_NICE``, ``RLIMIT_NICE`` and
``RLIMIT_RTPRIO``): right after its spawn the process gets ``START_BOOST`` better nice
levels and ``SCHED_RESET_ON_FORK`` (so it starts up fast on a loaded machine, and nothing it
forks meanwhile inherits that); at the release, if it is ready, ``SCHED_FIFO`` (with
``SCHED_RESET_ON_FORK``), so its last sleep and spin win a CPU at once. Right after its
stamp it returns to the nice and the policy a plain spawn has, before any of the task's
code runs. A process not ready at its release (still starting up) is never raised to
``SCHED_FIFO``: its start-up never runs real-time.

In-process attempts (async python, http, sql) prepare on the event loop (function and
arguments bound, request built, connection opened), then ``release_at`` waits for the
instant on the clock and the task's code starts right after.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import anyio

from tapri_daemon.executors.group import ExitWatch
from tapri_daemon.interfaces import AttemptRequest, Clock

NOT_RELEASED = 75
"""Exit code of an armed process whose release pipe closed without a release (the
launcher and the worker, which import nothing of tapri's, repeat it)."""
RELEASE_PRIORITY = 5
"""The armed process's SCHED_FIFO priority during its release (below the daemon's loop)."""
START_BOOST = 10
"""An armed process starts this much nicer-than-normal (lower nice value), when allowed."""
RELEASE_LEAD_NS = 200_000_000
"""An armed process is released this long before its instant and waits out the rest
itself: it sleeps until 2 ms before it and spins on the wall clock. Neither the wake-up of
a blocked process (a cross-CPU wake-up: ~80 µs on the 2-core VM measured) nor a late
wake-up of the daemon's event loop (tens of ms at normal priority on a loaded machine)
becomes lateness."""
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_STATUS_LIMIT = 1 << 16
_RESET_ON_FORK = getattr(os, "SCHED_RESET_ON_FORK", 0x40000000)
_FIFO = getattr(os, "SCHED_FIFO", 1) | _RESET_ON_FORK


def instant_of(fire_at_ns: int) -> datetime:
    """The instant as an aware datetime, rounded *up* to the µs (a wait never ends early)."""
    return _EPOCH + timedelta(microseconds=-(-fire_at_ns // 1000))


async def until(clock: Clock, fire_at_ns: int) -> None:
    """Return at ``fire_at_ns`` on ``clock`` or just after; at once if it is past."""
    if clock.time_ns() < fire_at_ns:
        await clock.sleep_until(instant_of(fire_at_ns))


async def release_at(clock: Clock, request: AttemptRequest, scope: anyio.CancelScope) -> None:
    """In-process attempts (async python, http, sql), once prepared: wait for a precise
    fire's instant, then start the attempt's timeout on ``scope``."""
    if request.fire_at_ns is not None:
        await until(clock, request.fire_at_ns)
    if request.timeout is not None:
        scope.deadline = anyio.current_time() + request.timeout


def released(request: AttemptRequest, stamps: list[int]) -> int | None:
    """An in-process attempt's release stamp (its first entry), for precise fires only."""
    return stamps[0] if stamps and request.fire_at_ns is not None else None


@dataclass(frozen=True, kw_only=True)
class Report:
    """What an armed process wrote on its status pipe."""

    ready: bool = False
    released_ns: int | None = None
    error: str | None = None


def parse(data: bytes) -> Report:
    ready, released, error = False, None, None
    for line in data.decode("utf-8", "replace").splitlines():
        word, _, rest = line.partition(" ")
        if word == "ready":
            ready = True
        elif word == "go" and rest.isdigit():
            released = int(rest)
        elif word == "error":
            error = rest
    return Report(ready=ready, released_ns=released, error=error)


def _close(fd: int) -> None:
    if fd >= 0:
        with contextlib.suppress(OSError):
            os.close(fd)


def _elevate(pid: int, priority: int) -> bool:
    try:
        os.sched_setscheduler(pid, _FIFO, os.sched_param(priority))
    except (OSError, AttributeError):
        return False
    return True


class Gate:
    """The release and status pipes of one armed process (``close()`` when it ended)."""

    def __init__(self, priority: int | None = None) -> None:
        self.priority = priority
        self.released = False
        self.elevated = False
        self._release_r, self._release_w = os.pipe()
        self._status_r, self._status_w = os.pipe()
        os.set_blocking(self._status_r, False)
        self._seen = b""

    @property
    def child_fds(self) -> tuple[int, int]:
        """The process's ends (kept open in it by ``pass_fds``): release read, status write."""
        return (self._release_r, self._status_w)

    def args(self, fire_at_ns: int, nice: int | None) -> tuple[str, ...]:
        """The armed process's arguments: RELEASE_FD STATUS_FD FIRE_AT_NS NICE (``-``: none)."""
        restore = "-" if nice is None else str(nice)
        return (str(self._release_r), str(self._status_w), str(fire_at_ns), restore)

    def spawned(self) -> None:
        """Close the process's ends here: it holds its own copies now."""
        _close(self._release_r)
        _close(self._status_w)
        self._release_r = self._status_w = -1

    def release(self, pid: int) -> None:
        """Wake the process (elevated first when a priority is set and it is ready)."""
        if self.priority is not None and self._ready():
            self.elevated = _elevate(pid, self.priority)
        with contextlib.suppress(OSError):  # it ended already: nothing to wake
            os.write(self._release_w, b"\1")
        self.released = True

    def _ready(self) -> bool:
        self._read()
        return self._seen.startswith(b"ready")

    def _read(self) -> None:
        with contextlib.suppress(OSError):
            while len(self._seen) < _STATUS_LIMIT and (part := os.read(self._status_r, 4096)):
                self._seen += part

    def report(self) -> Report:
        """The status lines, read without waiting (call once the process ended)."""
        self._read()
        return parse(self._seen)

    def close(self) -> None:
        for fd in (self._release_r, self._release_w, self._status_r, self._status_w):
            _close(fd)
        self._release_r = self._release_w = self._status_r = self._status_w = -1


@dataclass(frozen=True, kw_only=True)
class Armed:
    """An armed process attempt: its gate, and when and on which clock to open it."""

    gate: Gate
    clock: Clock
    fire_at_ns: int
    nice: int | None = None
    """Boosted: the nice value the process returns to after its stamp (the daemon loop
    thread's own, what a plain spawn gets); None: no boost (neither the start-up nice
    nor SCHED_FIFO)."""

    @property
    def args(self) -> tuple[str, ...]:
        return self.gate.args(self.fire_at_ns, self.nice)

    def boost(self, pid: int) -> None:
        """Right after the spawn: ``START_BOOST`` nice levels better than normal (a python
        start-up under load is mostly waiting for a CPU) and ``SCHED_RESET_ON_FORK``, so
        nothing it forks while preparing inherits that; a no-op when refused."""
        if self.nice is None:
            return
        with contextlib.suppress(OSError):
            policy = os.sched_getscheduler(pid) | _RESET_ON_FORK
            os.sched_setscheduler(pid, policy, os.sched_getparam(pid))
            os.setpriority(os.PRIO_PROCESS, pid, max(-20, self.nice - START_BOOST))

    async def hold(self, pid: int, watch: ExitWatch) -> None:
        """Wait until ``RELEASE_LEAD_NS`` before the instant (a coarse sleep: being late by
        a few ms costs nothing), then release ``pid``, which waits out the rest itself;
        return early if the process ends first."""
        async with anyio.create_task_group() as tg:
            tg.start_soon(_cancel_on_exit, watch, tg.cancel_scope)
            release_ns = self.fire_at_ns - RELEASE_LEAD_NS
            while (left := release_ns - self.clock.time_ns()) > 0:
                await self.clock.sleep(left / 1e9)
            self.gate.release(pid)
            tg.cancel_scope.cancel()


async def _cancel_on_exit(watch: ExitWatch, scope: anyio.CancelScope) -> None:
    await watch.wait()
    scope.cancel()


@dataclass(frozen=True, kw_only=True)
class Arming:
    """How the executors arm precise fires: the clock they wait on, the release priority."""

    clock: Clock
    priority: int | None = None
    """SCHED_FIFO priority of a ready process at its release, with the start-up nice boost;
    None: armed processes keep the normal priority throughout."""

    def arm(self, request: AttemptRequest, lead_ns: int | None = None) -> Armed | None:
        """An armed launch for a precise request (at least ``lead_ns`` before its instant)."""
        fire_at_ns = request.fire_at_ns
        if fire_at_ns is None:
            return None
        if lead_ns is not None and fire_at_ns - self.clock.time_ns() < lead_ns:
            return None
        nice = os.getpriority(os.PRIO_PROCESS, 0) if self.priority is not None else None
        gate = Gate(self.priority)
        return Armed(gate=gate, clock=self.clock, fire_at_ns=fire_at_ns, nice=nice)
