"""The armed launcher of a precise command task: it waits for its release, then becomes the task.

Run by path with ``python -I -S launcher.py RELEASE_FD STATUS_FD FIRE_AT_NS ARGV...``
(isolated: the task's PYTHON* variables do not affect it; only builtin modules). It is
spawned as the attempt's main process (own process group, the task's environment, cwd,
stdin and output pipes), restores the signal dispositions Python changed (SIGPIPE, SIGXFSZ
ignored) so the command inherits what a plain spawn gives, writes ``ready`` on the status
pipe and blocks reading the release pipe (``wait_for_release``). Released, it ``execvp``s
ARGV with its own environment: the same pid, group and pipes are the task's from then on.
Both pipes are close-on-exec, so the command never sees them. If the exec fails it writes
``error TEXT`` and exits 127; if the release pipe closes without a byte (cancelled while
armed, daemon gone) it exits 75 without running anything.
"""

from __future__ import annotations

import os
import signal
import sys
import time

_NOT_RELEASED = 75
_CANNOT_EXEC = 127


def _restore_signals() -> None:
    for name in ("SIGPIPE", "SIGXFZ", "SIGXFSZ"):
        number = getattr(signal, name, None)
        if number is not None:
            signal.signal(number, signal.SIG_DFL)


def wait_for_release(release: int, status: int, fire_at_ns: int) -> int | None:
    """Block until released, then spin on the wall clock until ``fire_at_ns``; return the
    stamp (``time.time_ns()``, never before ``fire_at_ns``), or None if the release pipe
    closed without a release.

    The daemon writes the release byte shortly before the instant (``release.RELEASE_LEAD_NS``),
    so waking this process (a cross-CPU wake-up, tens of µs) is not part of the lateness;
    the last stretch is spun here, on a CPU, and the stamp is the moment the instant was seen.
    If the daemon raised this process to SCHED_FIFO for its release, it drops back to the
    policy it had right after the stamp: the task's own code never runs real-time.
    """
    policy, param = os.sched_getscheduler(0), os.sched_getparam(0)
    os.write(status, b"ready\n")
    if not os.read(release, 1):
        return None
    stamp = time.time_ns()
    while stamp < fire_at_ns:
        stamp = time.time_ns()
    os.write(status, b"go %d\n" % stamp)
    if os.sched_getscheduler(0) != policy:
        os.sched_setscheduler(0, policy, param)
    return stamp


def main(argv: list[str]) -> int:
    release, status, fire_at_ns = int(argv[1]), int(argv[2]), int(argv[3])
    command = argv[4:]
    os.set_inheritable(release, False)
    os.set_inheritable(status, False)
    _restore_signals()
    if wait_for_release(release, status, fire_at_ns) is None:
        return _NOT_RELEASED
    try:
        os.execvp(command[0], command)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        os.write(status, f"error [Errno {exc.errno}] {reason}\n".encode("utf-8", "replace"))
    return _CANNOT_EXEC


if __name__ == "__main__":
    sys.exit(main(sys.argv))
