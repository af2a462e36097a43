"""command and shell tasks: ``request.argv`` run as one process group; output rules.

Output of a successful attempt: the JSON document in ``$TAPRI_OUTPUT`` if the task wrote
that file (anything else there fails the attempt), else the last non-empty stdout line,
parsed as JSON when it is JSON (``42``, ``{"rows": 3}``, ``"text"``) and kept as text when
not. No stdout at all gives ``null``. Either over ``output_limit`` bytes fails the attempt.

A precise fire (``request.fire_at_ns``, at least ``ARM_LEAD_NS`` ahead) runs the launcher
(``launcher.py``) as the attempt's main process; it execs ``request.argv`` at the instant.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tapri_daemon.executors import launcher, output
from tapri_daemon.executors.capture import LastLine, LogCapture
from tapri_daemon.executors.group import Hub
from tapri_daemon.executors.output import Checked
from tapri_daemon.executors.process import ProcessEnd, SpawnFailed, attempt_env, supervise
from tapri_daemon.executors.release import Armed, Arming, until
from tapri_daemon.interfaces import AttemptObserver, AttemptRequest, AttemptResult, Outcome

OUTPUT_FILE = "TAPRI_OUTPUT"
LAUNCHER = str(Path(launcher.__file__).resolve())
ARM_LEAD_NS = 100_000_000
"""A precise command is armed (launcher spawned early) only this long or more before its
instant; closer than that, the launcher's own start-up (~20 ms idle, more under load) could
outlast the wait, so the command is spawned directly at the instant instead."""


def read_capped(path: str, limit: int) -> bytes | None:
    """Up to ``limit + 1`` bytes of a file (enough to tell it is too big); None if absent."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    except OSError:
        return None
    try:
        parts: list[bytes] = []
        size = 0
        while size <= limit:
            part = os.read(fd, min(1 << 20, limit + 1 - size))
            if not part:
                break
            parts.append(part)
            size += len(part)
        return b"".join(parts)
    finally:
        os.close(fd)


def take_output(request: AttemptRequest, path: str, last: LastLine) -> Checked:
    raw = read_capped(path, request.output_limit)
    if raw is not None:
        return output.from_json_bytes(raw, request.output_limit, request.secrets, "$TAPRI_OUTPUT")
    if last.over:
        return Checked(
            error=f"the last stdout line is over the output limit of {request.output_limit} bytes"
        )
    if last.line is None:
        return Checked()
    return output.from_line(last.line, request.output_limit, request.secrets)


class CommandExecutor:
    """command and shell attempts (the argv is already rendered by the engine)."""

    def __init__(self, hub: Hub, scratch: str, arming: Arming) -> None:
        self._hub = hub
        self._scratch = scratch
        self._arming = arming

    async def execute(self, request: AttemptRequest, observer: AttemptObserver) -> AttemptResult:
        started = time.time_ns()
        if not request.argv:
            return output.finished(Outcome.FAILED, started, error="the task has no command")
        token = secrets.token_hex(12)
        out_path = os.path.join(self._scratch, f"{token}.json")
        capture = LogCapture(request.log_path, request.log_limit)
        last = LastLine(request.output_limit)
        env = attempt_env(request, token, {OUTPUT_FILE: out_path})
        armed = self._arming.arm(request, ARM_LEAD_NS)
        try:
            if armed is None and request.fire_at_ns is not None:
                await until(self._arming.clock, request.fire_at_ns)  # too close to arm
            end = await supervise(
                self._hub,
                request,
                observer,
                argv=request.argv if armed is None else launch_argv(armed, request.argv),
                env=env,
                capture=capture,
                last=last,
                armed=armed,
            )
            start = _start(request, armed, end)
            return _result(request, end, started, take_output(request, out_path, last), start)
        except SpawnFailed as exc:
            return output.finished(Outcome.FAILED, started, error=str(exc), secrets=request.secrets)
        finally:
            _unlink(out_path)
            if armed is not None:
                armed.gate.close()


def launch_argv(armed: Armed, argv: Sequence[str]) -> tuple[str, ...]:
    """The armed launcher's command line: it execs ``argv`` when released."""
    return (sys.executable, "-I", "-S", LAUNCHER, *armed.args, *argv)


@dataclass(frozen=True, kw_only=True)
class _Start:
    """A precise attempt's release (None: not a precise fire) and why it could not exec."""

    released_ns: int | None = None
    error: str | None = None


def _start(request: AttemptRequest, armed: Armed | None, end: ProcessEnd) -> _Start:
    if armed is None:
        released = end.info.spawned_ns if request.fire_at_ns is not None else None
        return _Start(released_ns=released)
    report = armed.gate.report()
    error = None
    if report.error is not None and request.argv:
        error = f"cannot start {request.argv[0]!r}: {report.error}"
    return _Start(released_ns=report.released_ns, error=error)


def _result(
    request: AttemptRequest, end: ProcessEnd, started: int, taken: Checked, start: _Start
) -> AttemptResult:
    outcome, code, error = Outcome.SUCCESS, end.code, taken.error
    if start.error is not None:
        outcome, code, error = Outcome.FAILED, None, start.error
    elif end.timed_out:
        outcome, code, error = Outcome.TIMEOUT, None, f"timed out after {request.timeout:g} s"
    elif end.code != 0:
        outcome, error = Outcome.FAILED, output.exit_error(end.code)
    elif taken.error is not None:
        outcome = Outcome.FAILED
    return output.finished(
        outcome,
        started,
        output=taken.value if outcome is Outcome.SUCCESS else None,
        exit_code=code,
        error=error,
        killed=end.killed,
        process=end.info,
        secrets=request.secrets,
        released_ns=start.released_ns,
    )


def _unlink(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)
