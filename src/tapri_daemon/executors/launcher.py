"""The armed launcher of a precise command task: it waits for its release, then becomes the task.

Run by path with ``python -I -S launcher.py RELEASE_FD STATUS_FD FIRE_AT_NS NICE ARGV...``
(isolated: the task's PYTHON* variables do not affect it; only builtin modules). It is
spawned as the attempt's main process (own process group, the task's environment, cwd,
stdin and output pipes), restores the signal dispositions Python changed (SIGPIPE, SIGXFSZ
ignored) so the command inherits what a plain spawn gives, writes ``ready`` on the status
pipe and blocks reading the release pipe (``wait_for_release``). Released, it ``execvp``s
ARGV with its own environment: the same pid, group and pipes are the task's from then on.
The program is looked up in ``PATH`` before the release (``resolve``). Both pipes are
close-on-exec, so the command never sees them. If the exec fails it writes
``error TEXT`` and exits 127; if the release pipe closes without a byte (cancelled while
armed, daemon gone) it exits 75 without running anything.
"""

from __future__ import annotations

import os
import signal
import sys
import time

_NOT_RELEASED = 75
_RESET_ON_FORK = getattr(os, "SCHED_RESET_ON_FORK", 0x40000000)
_CANNOT_EXEC = 127
_SPIN_NS = 2_000_000


def resolve(name: str) -> str | None:
    """The program's path, looked up in PATH before the release as ``execvp`` would (a
    long PATH costs a failed ``execve`` per entry); None if not found now."""
    if "/" in name:
        return name
    for folder in os.get_exec_path():
        path = os.path.join(folder, name)
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    return None


def parse_nice(word: str) -> int | None:
    return None if word == "-" else int(word)


def _restore_signals() -> None:
    for name in ("SIGPIPE", "SIGXFZ", "SIGXFSZ"):
        number = getattr(signal, name, None)
        if number is not None:
            signal.signal(number, signal.SIG_DFL)


def wait_for_release(release: int, status: int, fire_at_ns: int, nice: int | None) -> int | None:
    """Block until released, then spin on the wall clock until ``fire_at_ns``; return the
    stamp (``time.time_ns()``, never before ``fire_at_ns``), or None if the release pipe
    closed without a release.

    The daemon writes the release byte ``RELEASE_LEAD_NS`` (200 ms) before the instant, so
    neither waking this process nor the daemon's own wake-up is part of the lateness: this
    process sleeps until 2 ms before the instant, spins the rest on a CPU, and the stamp is
    the moment it saw the instant.
    ``nice`` given: the daemon boosted this process (a lower nice and SCHED_RESET_ON_FORK
    from its spawn, SCHED_FIFO for its release); right after the stamp it returns to that
    nice and to its own policy (clearing the flag where allowed), so the task's code never
    runs boosted.
    """
    policy, param = os.sched_getscheduler(0) & ~_RESET_ON_FORK, os.sched_getparam(0)
    os.write(status, b"ready\n")
    if not os.read(release, 1):
        return None
    stamp = _at(fire_at_ns)
    os.write(status, b"go %d\n" % stamp)
    if nice is not None:
        _unboost(policy, param, nice)
    return stamp


def _at(fire_at_ns: int) -> int:
    """Sleep until ``_SPIN_NS`` before ``fire_at_ns``, then spin on the wall clock until it
    (re-read after each sleep: the clock may be stepped meanwhile)."""
    now = time.time_ns()
    while now < fire_at_ns:
        if fire_at_ns - now > _SPIN_NS:
            time.sleep((fire_at_ns - now - _SPIN_NS) / 1e9)
        now = time.time_ns()
    return now


def _set_policy(policy: int, param: os.sched_param) -> bool:
    try:
        os.sched_setscheduler(0, policy, param)
    except OSError:
        return False
    return True


def _unboost(policy: int, param: os.sched_param, nice: int) -> None:
    """Back to the policy and nice a plain spawn has (the reset-on-fork flag stays where
    clearing it is not allowed: it changes nothing for a normal-priority process)."""
    if not _set_policy(policy, param):
        _set_policy(policy | _RESET_ON_FORK, param)
    _set_nice(nice)


def _set_nice(nice: int) -> bool:
    try:
        os.setpriority(os.PRIO_PROCESS, 0, nice)
    except OSError:
        return False
    return True


def main(argv: list[str]) -> int:
    release, status, fire_at_ns, nice = int(argv[1]), int(argv[2]), int(argv[3]), argv[4]
    command = argv[5:]
    os.set_inheritable(release, False)
    os.set_inheritable(status, False)
    _restore_signals()
    program = resolve(command[0])
    if wait_for_release(release, status, fire_at_ns, parse_nice(nice)) is None:
        return _NOT_RELEASED
    try:
        if program is None:
            os.execvp(command[0], command)  # reports why it cannot start
        os.execv(program, command)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        os.write(status, f"error [Errno {exc.errno}] {reason}\n".encode("utf-8", "replace"))
    return _CANNOT_EXEC


if __name__ == "__main__":
    sys.exit(main(sys.argv))
