"""Every process an attempt started: find them, stop them (TERM, grace, KILL), reap them.

An attempt's main process leads its own process group (``setpgid``, not a new session:
see docs/executors.md) and carries ``TAPRI_ATTEMPT_TOKEN`` in its environment. Its
processes are:

- the main process and its descendants, walked through ``/proc/PID/task/TID/children``;
- orphans: the daemon is a child subreaper (see ``system.py``), so a process whose parent
  exits is reparented to the daemon's main thread. A child of the daemon that the hub did
  not spawn belongs to the attempt whose process group it is in, or whose token
  its environment holds (``setsid``/daemonising keeps the environment); so do all its
  descendants. Without subreaper support, every process in /proc is checked the same way.

Stopping: SIGTERM (and SIGCONT) to every process found and to the group, then polling for
``grace`` seconds (newcomers get SIGTERM too); then every process still found is frozen
with SIGSTOP until a pass finds no new one (so nothing forks its way out), and all get
SIGKILL. ``Tracked.killed`` counts the distinct processes signalled while alive.

Reaping: each main process is waited for by a thread blocked in ``waitpid`` (no file
descriptor, unlike a pidfd). Orphans are the daemon's children too: one the hub signalled
or whose group is a running attempt's is reaped as soon as it is a zombie; any other
zombie child outside the daemon's own process group (so not one another part of the
daemon spawned plainly and will wait for) is reaped once it has stayed a zombie for
``STALE_ZOMBIE`` seconds, so a long-running daemon does not collect them.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence

import anyio

from tapri_daemon.executors import procfs, system
from tapri_daemon.executors.outlets import Outlets, per_relay
from tapri_daemon.executors.procfs import ProcStat

TOKEN_NAME = "TAPRI_ATTEMPT_TOKEN"
STALE_ZOMBIE = 2.0
_FREEZE_ROUNDS = 50
_KILL_WAIT = 5.0
_OWNER_CACHE = 4096
_ORPHAN_PASSES = 4

Key = tuple[int, int]
"""(pid, start time): a process, even after its pid is reused."""


def _key(stat: ProcStat) -> Key:
    return (stat.pid, stat.start_time)


def _send(pid: int, sig: int) -> bool:
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def _group_exists(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def _send_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


class ExitWatch:
    """Waits for one child with a thread blocked in waitpid."""

    def __init__(self, popen: subprocess.Popen[bytes]) -> None:
        self.pid = popen.pid
        self.code: int | None = None
        """As os.waitstatus_to_exitcode: -N for a signal; None if the status was lost."""
        self.reaped = False
        self._popen = popen
        self._loop = asyncio.get_running_loop()
        self._done = asyncio.Event()
        name = f"tapri-wait-{self.pid}"
        threading.Thread(target=self._wait, name=name, daemon=True).start()

    def _wait(self) -> None:
        try:
            _, status = os.waitpid(self.pid, 0)
            self.code = os.waitstatus_to_exitcode(status)
        except ChildProcessError:
            self.code = None
        self._popen.returncode = self.code if self.code is not None else 255
        self.reaped = True
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._done.set)

    async def wait(self) -> int | None:
        await self._done.wait()
        return self.code


class Tracked:
    """One attempt's process tree while the hub looks after it."""

    def __init__(self, popen: subprocess.Popen[bytes], token: str, spawned_ns: int) -> None:
        self.pid = popen.pid
        self.spawned_ns = spawned_ns
        self.start_time = procfs.start_time(self.pid)
        self.token = token.encode()
        self.watch = ExitWatch(popen)
        self.signalled: set[Key] = set()

    @property
    def killed(self) -> int:
        return len(self.signalled)


class Hub:
    """Spawns attempt processes and keeps track of everything they start."""

    def __init__(self, *, direct_pipes: int | None = None) -> None:
        """``direct_pipes``: attempts whose pipes the daemon reads itself (default: what the
        open-file limit allows, ``system.process_slots``); the rest go to relays."""
        self.subreaper = system.enable_subreaper() and procfs.children_supported()
        self.open_files = system.raise_open_files()
        direct = system.process_slots(self.open_files) if direct_pipes is None else direct_pipes
        self.outlets = Outlets(direct=direct, per_relay=per_relay(self.open_files))
        self._tracked: dict[int, Tracked] = {}
        self._owners: dict[Key, bytes | None] = {}
        self._victims: set[Key] = set()
        self._zombies: dict[Key, float] = {}
        self._pgid = os.getpgid(0)

    def spawn(
        self,
        argv: Sequence[str],
        env: Mapping[str, str],
        cwd: str | None,
        token: str,
        pass_fds: Sequence[int] = (),
    ) -> tuple[Tracked, int, int]:
        """Start ``argv`` in a new process group; return it with its stdout and stderr read ends.

        ``pass_fds`` stay open in the process (an armed launch's pipes)."""
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        try:
            popen = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=out_w,
                stderr=err_w,
                env=dict(env),
                cwd=cwd,
                process_group=0,
                close_fds=True,
                pass_fds=tuple(pass_fds),
            )
        except BaseException:
            os.close(out_r)
            os.close(err_r)
            raise
        finally:
            os.close(out_w)
            os.close(err_w)
        tracked = Tracked(popen, token, time.time_ns())
        self._tracked[tracked.pid] = tracked
        return tracked, out_r, err_r

    def forget(self, tracked: Tracked) -> None:
        if self._owns_group(tracked):
            self._tracked.pop(tracked.pid, None)

    # finding

    def collect(self, tracked: Tracked) -> list[ProcStat]:
        """Every living process of the attempt (main, descendants, attributed orphans).

        The main process's tree is walked before the daemon's children are read, and those
        are read again until no new one appears: a process reparented to the daemon while
        the walk runs is then seen in one place or the other.
        """
        found: dict[int, ProcStat] = {}
        main = None if tracked.watch.reaped else procfs.read_stat(tracked.pid)
        if main is not None and main.start_time == tracked.start_time:
            self._walk([main], found)
        looked: set[int] = set()
        for _ in range(_ORPHAN_PASSES):
            fresh = [stat for stat in self._orphans() if stat.pid not in looked]
            if not fresh:
                break
            looked.update(stat.pid for stat in fresh)
            self._walk([stat for stat in fresh if self._owns(tracked, stat)], found)
        return list(found.values())

    def _walk(self, roots: list[ProcStat], found: dict[int, ProcStat]) -> None:
        stack = list(roots)
        while stack:
            stat = stack.pop()
            if stat.pid in found or stat.zombie:
                continue
            found[stat.pid] = stat
            for pid in procfs.children(stat.pid, stat.threads):
                child = procfs.read_stat(pid)
                if child is not None:
                    stack.append(child)

    def _orphans(self) -> list[ProcStat]:
        """Living processes that may be an attempt's orphans; reaps stale zombies."""
        me = os.getpid()
        pids = procfs.thread_children(me, me) if self.subreaper else procfs.all_pids()
        living: list[ProcStat] = []
        for pid in pids:
            if pid in self._tracked or pid == me:
                continue
            stat = procfs.read_stat(pid)
            if stat is None:
                continue
            if stat.zombie:
                self._reap_zombie(stat, me)
            else:
                living.append(stat)
        return living

    def _owns(self, tracked: Tracked, stat: ProcStat) -> bool:
        if stat.pgid == tracked.pid and self._owns_group(tracked):
            return True
        key = _key(stat)
        if key not in self._owners:
            if len(self._owners) > _OWNER_CACHE:
                self._owners.clear()
            self._owners[key] = procfs.env_value(stat.pid, TOKEN_NAME.encode())
        return self._owners[key] == tracked.token

    def _reap_zombie(self, stat: ProcStat, me: int) -> None:
        if stat.ppid != me:
            return
        key = _key(stat)
        first = self._zombies.setdefault(key, time.monotonic())
        ours = key in self._victims or stat.pgid in self._tracked
        stale = stat.pgid != self._pgid and time.monotonic() - first >= STALE_ZOMBIE
        if ours or stale:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(stat.pid, os.WNOHANG)
            self._zombies.pop(key, None)
            self._victims.discard(key)
            self._owners.pop(key, None)

    # stopping

    def alive(self, tracked: Tracked) -> bool:
        """Whether anything of the attempt is left (its process group counts too)."""
        return bool(self.collect(tracked)) or (
            self._owns_group(tracked) and _group_exists(tracked.pid)
        )

    def _owns_group(self, tracked: Tracked) -> bool:
        """False once the attempt's pid (its group id) was reused by a newer attempt.

        After the main process is reaped its pid may be reused; if a newer attempt got it,
        the group id is theirs and this attempt's processes are known by token only.
        """
        return self._tracked.get(tracked.pid, tracked) is tracked

    def _signal_group(self, tracked: Tracked, sig: int) -> None:
        if self._owns_group(tracked):
            _send_group(tracked.pid, sig)

    def signal(self, tracked: Tracked, sig: int, *, skip: set[Key] | None = None) -> int:
        """Send ``sig`` to every living process of the attempt not in ``skip``."""
        sent = 0
        for stat in self.collect(tracked):
            key = _key(stat)
            if (skip is None or key not in skip) and _send(stat.pid, sig):
                tracked.signalled.add(key)
                self._victims.add(key)
                if skip is not None:
                    skip.add(key)
                sent += 1
        return sent

    async def stop(self, tracked: Tracked, grace: float) -> int:
        """TERM everything, wait up to ``grace``, KILL the rest; return the killed count."""
        termed: set[Key] = set()
        self.signal(tracked, signal.SIGTERM, skip=termed)
        self._signal_group(tracked, signal.SIGTERM)
        self.signal(tracked, signal.SIGCONT)
        deadline = time.monotonic() + grace
        pause = 0.002
        while self.alive(tracked):
            left = deadline - time.monotonic()
            if left <= 0:
                await self._kill(tracked)
                break
            await anyio.sleep(min(pause, left))
            pause = min(pause * 2, 0.05)
            self.signal(tracked, signal.SIGTERM, skip=termed)
        self._signal_group(tracked, signal.SIGKILL)
        return tracked.killed

    async def _kill(self, tracked: Tracked) -> None:
        frozen: set[Key] = set()
        for _ in range(_FREEZE_ROUNDS):
            if not self.signal(tracked, signal.SIGSTOP, skip=frozen):
                break
        self._signal_group(tracked, signal.SIGKILL)
        deadline = time.monotonic() + _KILL_WAIT
        while time.monotonic() < deadline:
            self.signal(tracked, signal.SIGKILL)
            if not self.alive(tracked):
                return
            await anyio.sleep(0.01)

    async def leftovers(self, tracked: Tracked, grace: float) -> int:
        """After the main process exited: stop whatever it left running."""
        if not self.alive(tracked):
            return tracked.killed
        return await self.stop(tracked, grace)

    def survivors(self, tracked: Tracked) -> list[int]:
        return [stat.pid for stat in self.collect(tracked)]

    def sweep(self) -> None:
        """Reap zombie orphans nobody waits for (called between attempts and at close)."""
        self._orphans()

    def close(self) -> None:
        """At the Dispatcher's close: stop the relays, reap what is left."""
        self.outlets.close()
        self.sweep()
