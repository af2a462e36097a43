"""How one attempt runs: the Dispatcher routes an AttemptRequest to the executor of its kind.

    command, shell   command.py (+ process.py, group.py, capture.py)   a process group
                     output: streams.py, or relay.py + relayd.py beyond the fd budget
    python           python.py (+ worker.py)       async on the loop, sync in a worker process
    sql              sql.py                        SQLite through aiosqlite
    http             http.py                       one shared httpx.AsyncClient
    precise fires    release.py (+ launcher.py)    armed before the instant, released at it

Every executor ends an attempt with an AttemptResult: failures never raise (an unexpected
error inside an executor becomes a failed attempt and an ``executor.error`` log line);
only cancellation of the caller propagates, after everything the attempt started stopped.
See docs/executors.md.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from types import TracebackType

import httpx

from tapri_daemon import logs
from tapri_daemon.clocks import SystemClock
from tapri_daemon.executors import output
from tapri_daemon.executors.command import CommandExecutor
from tapri_daemon.executors.group import Hub
from tapri_daemon.executors.http import HttpExecutor
from tapri_daemon.executors.python import PythonExecutor
from tapri_daemon.executors.release import RELEASE_PRIORITY, Arming
from tapri_daemon.executors.sql import SqlExecutor
from tapri_daemon.interfaces import (
    AttemptObserver,
    AttemptRequest,
    AttemptResult,
    Clock,
    Outcome,
)

__all__ = ["Dispatcher"]

Route = Callable[[AttemptRequest, AttemptObserver], Awaitable[AttemptResult]]
log = logs.get_logger("tapri.executors")


class Dispatcher:
    """The Executor the engine uses; one per daemon (or per ``tapri run``).

    Creating it makes this process a child subreaper and raises its soft open-file limit
    to the hard one (see executors/system.py). ``aclose()`` closes the HTTP client and
    removes the scratch folder that holds ``$TAPRI_OUTPUT`` files.

    Precise fires (``request.fire_at_ns``) are armed and released on ``clock`` (the daemon
    passes its PreciseClock; default: ``SystemClock``); a released process gets SCHED_FIFO
    ``release_priority`` for the moment of its release where the kernel allows it (None:
    never). See release.py.

    ``direct_pipes``: how many process attempts the daemon reads the output pipes of itself
    (default: what the open-file limit allows); beyond that, relay processes read them (see
    outlets.py).
    """

    def __init__(
        self,
        *,
        http_transport: httpx.AsyncBaseTransport | None = None,
        python_path: Sequence[str] = (),
        clock: Clock | None = None,
        release_priority: int | None = RELEASE_PRIORITY,
        direct_pipes: int | None = None,
    ) -> None:
        self.hub = Hub(direct_pipes=direct_pipes)
        self._scratch = tempfile.mkdtemp(prefix="tapri-attempts-")
        self.arming = Arming(clock=clock or SystemClock(), priority=release_priority)
        self._http = HttpExecutor(self.arming.clock, http_transport)
        commands = CommandExecutor(self.hub, self._scratch, self.arming)
        python = PythonExecutor(self.hub, self._scratch, python_path, self.arming)
        self._routes: dict[str, Route] = {
            "command": commands.execute,
            "shell": commands.execute,
            "python": python.execute,
            "sql": SqlExecutor(self.arming.clock).execute,
            "http": self._http.execute,
        }

    async def execute(self, request: AttemptRequest, observer: AttemptObserver) -> AttemptResult:
        started = time.time_ns()
        kind = request.task.kind
        try:
            return await self._routes[kind](request, observer)
        except Exception as exc:
            log.error(
                logs.EXECUTOR_ERROR,
                workflow=request.run.workflow,
                run_id=request.run.run_id,
                task_id=request.task_id,
                attempt=request.attempt,
                kind=kind,
                error=output.clean_error(f"{type(exc).__name__}: {exc}", request.secrets),
            )
            error = f"internal error in the {kind} executor: {type(exc).__name__}: {exc}"
            return output.finished(Outcome.FAILED, started, error=error, secrets=request.secrets)

    async def aclose(self) -> None:
        await self._http.aclose()
        self.hub.close()
        shutil.rmtree(self._scratch, ignore_errors=True)

    async def __aenter__(self) -> Dispatcher:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
