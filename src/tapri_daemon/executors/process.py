"""Running one attempt's process: environment, pipes into the log, timeout, cancellation.

The process leads its own process group, gets stdin from /dev/null and a clean
environment (``attempt_env``). Its stdout and stderr are two pipes (so the last stdout line
can be told apart), read into one log file by the daemon or, beyond its descriptor budget,
by a relay process (``outlets.py``). The attempt ends when the main process exits, not at
pipe EOF: after the exit, whatever it left running is stopped (``Hub.leftovers``), the pipes
are drained without waiting and closed (``streams.py``), so a grandchild holding stdout
cannot hang it.

Timeout (``request.timeout``) and cancellation of the caller both stop the whole tree (see
``group.py``) inside a shielded cancel scope; cancellation is then re-raised.

An armed precise attempt (``release.Armed``) is spawned early with its gate's pipes passed
in, boosted, reported to the observer, held until its go-ahead, then waited for as usual
(the timeout counts from the go-ahead); cancelled while armed, it is stopped the same way.
"""

from __future__ import annotations

import errno
import os
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import anyio

from tapri_daemon import logs
from tapri_daemon.executors.capture import LastLine, LogCapture
from tapri_daemon.executors.group import TOKEN_NAME, Hub, Tracked
from tapri_daemon.executors.release import Armed
from tapri_daemon.executors.streams import Sink, Streams
from tapri_daemon.interfaces import AttemptObserver, AttemptRequest, ProcessInfo

BASE_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "USER", "LOGNAME", "SHELL")
"""Taken from the daemon's environment when set there; nothing else leaks through."""
DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin"
_SPAWN_PATIENCE = 60.0
_REAP_PATIENCE = 10.0
_OUT_OF_FILES = (errno.EMFILE, errno.ENFILE)

log = logs.get_logger("tapri.executors")


def attempt_env(
    request: AttemptRequest, token: str, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The base variables, then ``request.env``, then tapri's own (which always win)."""
    env = {name: os.environ[name] for name in BASE_ENV if name in os.environ}
    env.setdefault("PATH", DEFAULT_PATH)
    env.update(request.env)
    env.update(
        TAPRI_WORKFLOW=request.run.workflow,
        TAPRI_RUN_ID=request.run.run_id,
        TAPRI_TASK_ID=request.task_id,
        TAPRI_ATTEMPT=str(request.attempt),
        TAPRI_LOGICAL_DATE=request.run.logical_date.isoformat(),
    )
    env[TOKEN_NAME] = token
    if request.fire_at_ns is not None:
        env["TAPRI_FIRE_AT_NS"] = str(request.fire_at_ns)
    env.update(extra or {})
    return env


@dataclass(frozen=True, kw_only=True)
class ProcessEnd:
    """How an attempt's process ended."""

    code: int | None
    """os.waitstatus_to_exitcode: -N when killed by signal N; None if never known."""
    timed_out: bool
    killed: int
    info: ProcessInfo


class SpawnFailed(Exception):
    """The process could not start (not a task outcome yet: the caller builds one)."""


async def _spawn(
    hub: Hub,
    argv: Sequence[str],
    env: Mapping[str, str],
    cwd: str | None,
    token: str,
    armed: Armed | None,
) -> tuple[Tracked, int, int]:
    """Spawn, waiting while the process is out of file descriptors."""
    give_up = time.monotonic() + _SPAWN_PATIENCE
    pass_fds = armed.gate.child_fds if armed is not None else ()
    while True:
        try:
            return hub.spawn(argv, env, cwd, token, pass_fds)
        except OSError as exc:
            if exc.errno not in _OUT_OF_FILES or time.monotonic() > give_up:
                raise SpawnFailed(f"cannot start {argv[0]!r}: {exc}") from None
        except (ValueError, subprocess.SubprocessError) as exc:
            raise SpawnFailed(f"cannot start {argv[0]!r}: {exc}") from None
        await anyio.sleep(0.05)


def _bind(request: AttemptRequest) -> dict[str, object]:
    return {
        "workflow": request.run.workflow,
        "run_id": request.run.run_id,
        "task_id": request.task_id,
        "attempt": request.attempt,
    }


async def _stop(hub: Hub, tracked: Tracked, request: AttemptRequest, reason: str) -> int:
    killed = await hub.stop(tracked, request.kill_grace)
    with anyio.move_on_after(_REAP_PATIENCE):
        await tracked.watch.wait()
    survivors = hub.survivors(tracked)
    log.warning(
        logs.TASK_KILLED, **_bind(request), reason=reason, killed=killed, survivors=survivors
    )
    return killed


async def _wait(
    hub: Hub, tracked: Tracked, request: AttemptRequest, capture: LogCapture
) -> tuple[bool, int]:
    """Wait for the main process (or the timeout), then stop what is left."""
    with anyio.move_on_after(request.timeout) as scope:
        await tracked.watch.wait()
    timed_out = scope.cancelled_caught
    with anyio.CancelScope(shield=True):
        if timed_out:
            capture.note(f"timed out after {request.timeout:g} s; stopping the process group")
            killed = await _stop(hub, tracked, request, "timeout")
        else:
            killed = await hub.leftovers(tracked, request.kill_grace)
            if killed:
                capture.note(f"stopped {killed} process(es) left running after the task exited")
                log.info(logs.TASK_KILLED, **_bind(request), reason="left running", killed=killed)
    return timed_out, killed


async def supervise(
    hub: Hub,
    request: AttemptRequest,
    observer: AttemptObserver,
    *,
    argv: Sequence[str],
    env: Mapping[str, str],
    capture: LogCapture,
    last: LastLine | None = None,
    armed: Armed | None = None,
) -> ProcessEnd:
    """Run ``argv`` as the attempt's process; raises SpawnFailed or the caller's cancel.

    ``armed``: the process is released through its gate at the instant (``release.py``);
    the timeout counts from the release.
    """
    token = env[TOKEN_NAME]
    sink = Sink(capture, request.secrets, last)
    async with hub.outlets.outlet() as outlet:
        tracked, out_fd, err_fd = await _spawn(hub, argv, env, request.cwd, token, armed)
        if armed is not None:
            armed.gate.spawned()
            armed.boost(tracked.pid)
        info = ProcessInfo(
            pid=tracked.pid,
            pgid=tracked.pid,
            start_time=tracked.start_time,
            spawned_ns=tracked.spawned_ns,
        )
        streams: Streams | None = None
        try:
            streams = await outlet.attach(sink, (out_fd, err_fd))
            await observer.spawned(info)
            if armed is not None:
                await armed.hold(tracked.pid, tracked.watch)
            timed_out, killed = await _wait(hub, tracked, request, capture)
        except BaseException as exc:
            cancelled = isinstance(exc, anyio.get_cancelled_exc_class())
            reason = "cancelled" if cancelled else f"error: {type(exc).__name__}"
            with anyio.CancelScope(shield=True):
                capture.note(f"{reason}; stopping the process group")
                observer.stopped(await _stop(hub, tracked, request, reason))
            raise
        finally:
            with anyio.CancelScope(shield=True):
                await _finish(streams, sink)
            hub.forget(tracked)
    return ProcessEnd(code=tracked.watch.code, timed_out=timed_out, killed=killed, info=info)


async def _finish(streams: Streams | None, sink: Sink) -> None:
    if streams is None:
        sink.close()
    else:
        await streams.finish()
