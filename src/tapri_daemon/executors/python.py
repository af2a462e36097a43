"""python tasks: ``module:function``, arguments injected by parameter name (see worker.py).

Two paths, chosen per function:

- ``async def`` (found as a top-level ``async def`` in the module's source, or by
  inspection when the module is already imported): imported into the daemon and awaited on
  the event loop; no thread, no process. The timeout is an anyio cancel scope; cancelling
  the attempt cancels the coroutine. What it prints goes to the attempt's log (sys.stdout
  and sys.stderr are routed per task through a context variable), not to the daemon's
  stdout; the log file exists only if it printed something or failed.
- anything else runs in a worker subprocess (``worker.py``) that is supervised exactly like
  a command task: own process group, captured stdout/stderr, TERM/grace/KILL on timeout or
  cancellation. A thread could not be stopped; a process can. It costs a python start-up
  (~50 ms) per attempt and keeps the task's module (and whatever it imports) out of the
  daemon. The arguments and the result cross as JSON files.

Module paths: ``request.python_path`` then the Dispatcher's ``python_path`` are appended to
``sys.path`` (daemon and worker). Modules are cached by the daemon after the first import.

Precise fires (``request.fire_at_ns``): an ``async def`` is resolved and bound first and
entered at the instant (its wrapper's first line is the stamp); a sync function's worker is
armed (``release.py``): spawned at once, it imports and binds, then calls at the instant.
"""

from __future__ import annotations

import ast
import contextlib
import contextvars
import functools
import importlib
import importlib.util
import inspect
import json
import os
import secrets
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO, cast

import anyio

from tapri_daemon.executors import output, worker
from tapri_daemon.executors.capture import LogCapture, Masker
from tapri_daemon.executors.command import read_capped
from tapri_daemon.executors.group import Hub
from tapri_daemon.executors.output import Checked
from tapri_daemon.executors.process import ProcessEnd, SpawnFailed, attempt_env, supervise
from tapri_daemon.executors.release import Armed, Arming, release_at, released
from tapri_daemon.interfaces import AttemptObserver, AttemptRequest, AttemptResult, Outcome

WORKER = str(Path(worker.__file__).resolve())
_RESULT_SLACK = 1 << 16


class _Sink:
    """Where an async task's prints go: masked into its (lazily created) log."""

    def __init__(self, request: AttemptRequest) -> None:
        self.capture = LogCapture(request.log_path, request.log_limit)
        self._masker = Masker(request.secrets)

    def write(self, text: str) -> None:
        self.capture.write(self._masker.feed(text.encode("utf-8", "replace")))

    def close(self) -> None:
        self.capture.write(self._masker.flush())
        self.capture.close()


_SINK: contextvars.ContextVar[_Sink | None] = contextvars.ContextVar("tapri_sink", default=None)


class _Routed:
    """A stand-in for sys.stdout / sys.stderr that writes to the current task's sink."""

    def __init__(self, original: TextIO) -> None:
        self._original = original

    def write(self, text: str) -> int:
        sink = _SINK.get()
        if sink is None:
            return self._original.write(text)
        sink.write(text)
        return len(text)

    def flush(self) -> None:
        if _SINK.get() is None:
            self._original.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._original, name)


def _route_prints() -> None:
    if not isinstance(sys.stdout, _Routed):
        sys.stdout = cast(TextIO, _Routed(sys.stdout))
    if not isinstance(sys.stderr, _Routed):
        sys.stderr = cast(TextIO, _Routed(sys.stderr))


def _declared_async(module_name: str, function: str) -> bool | None:
    """Whether the module's source defines ``function`` with ``async def`` (None: unknown)."""
    spec = importlib.util.find_spec(module_name)
    if spec is None:
        raise ModuleNotFoundError(f"no module named {module_name!r}")
    loader = spec.loader
    get_source = getattr(loader, "get_source", None)
    source = get_source(module_name) if get_source is not None else None
    if source is None:
        return None
    found: bool | None = False
    for node in ast.parse(source).body:
        if isinstance(node, ast.AsyncFunctionDef | ast.FunctionDef) and node.name == function:
            found = isinstance(node, ast.AsyncFunctionDef)
    return found


@functools.cache
def _is_async(target: str, paths: tuple[str, ...]) -> bool:
    module_name, function = worker.split_target(target)
    worker.add_paths(paths)
    module = sys.modules.get(module_name)
    declared = None if module is not None else _declared_async(module_name, function)
    if declared is False:
        return False
    return inspect.iscoroutinefunction(worker.load(target, paths))


@functools.cache
def _prepared(target: str, paths: tuple[str, ...]) -> tuple[Callable[..., Any], worker.Plan]:
    function = worker.load(target, paths)
    return function, worker.plan(function)


class PythonExecutor:
    def __init__(self, hub: Hub, scratch: str, python_path: Sequence[str], arming: Arming) -> None:
        self._hub = hub
        self._scratch = scratch
        self._python_path = tuple(python_path)
        self._arming = arming

    async def execute(self, request: AttemptRequest, observer: AttemptObserver) -> AttemptResult:
        started = time.time_ns()
        target = request.task.python or ""
        paths = (*request.python_path, *self._python_path)
        try:
            run_here = _is_async(target, paths)
        except Exception as exc:
            error = f"cannot import {target}: {worker.describe(exc)}"
            return output.finished(Outcome.FAILED, started, error=error, secrets=request.secrets)
        if run_here:
            return await self._on_loop(request, target, paths, started)
        return await self._in_worker(request, observer, target, paths, started)

    async def _on_loop(
        self, request: AttemptRequest, target: str, paths: tuple[str, ...], started: int
    ) -> AttemptResult:
        function, shape = _prepared(target, paths)
        kwargs, problem = worker.bind(target, shape, request.kwargs)
        if problem is not None:
            return output.finished(Outcome.FAILED, started, error=problem)
        _route_prints()
        sink = _Sink(request)
        entered: list[int] = []
        token = _SINK.set(sink)
        try:
            with anyio.CancelScope() as scope:
                await release_at(self._arming.clock, request, scope)
                value = await _entered(function, kwargs, entered)
        except (Exception, SystemExit) as exc:
            sink.write("".join(traceback.format_exception(exc)))
            error = worker.describe(exc)
            at = released(request, entered)
            return output.finished(
                Outcome.FAILED, started, error=error, secrets=request.secrets, released_ns=at
            )
        finally:
            _SINK.reset(token)
            sink.close()
        if scope.cancel_called:
            error = f"timed out after {request.timeout:g} s"
            at = released(request, entered)
            return output.finished(Outcome.TIMEOUT, started, error=error, released_ns=at)
        checked = output.check(value, request.output_limit, request.secrets)
        return _returned(request, checked, started, entered)

    async def _in_worker(
        self,
        request: AttemptRequest,
        observer: AttemptObserver,
        target: str,
        paths: tuple[str, ...],
        started: int,
    ) -> AttemptResult:
        armed = self._arming.arm(request)
        try:
            return await self._worker_attempt(request, observer, target, paths, started, armed)
        finally:
            if armed is not None:
                armed.gate.close()

    async def _worker_attempt(
        self,
        request: AttemptRequest,
        observer: AttemptObserver,
        target: str,
        paths: tuple[str, ...],
        started: int,
        armed: Armed | None,
    ) -> AttemptResult:
        token = secrets.token_hex(12)
        request_path = os.path.join(self._scratch, f"{token}.call.json")
        result_path = os.path.join(self._scratch, f"{token}.result.json")
        document = {"target": target, "python_path": list(paths), "kwargs": dict(request.kwargs)}
        gate = armed.args if armed is not None else ()
        try:
            _write_json(request_path, document)
            capture = LogCapture(request.log_path, request.log_limit)
            env = attempt_env(request, token, {"PYTHONUNBUFFERED": "1"})
            argv = (sys.executable, "-P", WORKER, request_path, result_path, *gate)
            end = await supervise(
                self._hub, request, observer, argv=argv, env=env, capture=capture, armed=armed
            )
        except (TypeError, ValueError) as exc:
            error = f"the arguments are not JSON-serialisable: {exc}"
            return output.finished(Outcome.FAILED, started, error=error, secrets=request.secrets)
        except SpawnFailed as exc:
            return output.finished(Outcome.FAILED, started, error=str(exc), secrets=request.secrets)
        finally:
            _unlink(request_path)
        try:
            raw = read_capped(result_path, request.output_limit + _RESULT_SLACK)
        finally:
            _unlink(result_path)
        release_ns = armed.gate.report().released_ns if armed is not None else None
        return _from_worker(request, raw, end, started, release_ns)


async def _entered(function: Callable[..., Any], kwargs: dict[str, Any], stamp: list[int]) -> Any:
    """Call an async task function; its first line stamps the moment it was entered."""
    stamp.append(time.time_ns())
    return await function(**kwargs)


def _worker_verdict(request: AttemptRequest, raw: bytes | None, end: ProcessEnd) -> Checked:
    """The worker's result document as an output (``error`` set when the attempt failed)."""
    if end.timed_out:
        return Checked(error=f"timed out after {request.timeout:g} s")
    if end.code != 0 or raw is None:
        return Checked(error="the python worker " + output.exit_error(end.code))
    if len(raw) > request.output_limit + _RESULT_SLACK:
        return Checked(error=output.too_big(len(raw), request.output_limit))
    document = json.loads(raw)
    if document.get("error") is not None:
        return Checked(error=str(document["error"]))
    return output.check(document.get("output"), request.output_limit, request.secrets)


def _from_worker(
    request: AttemptRequest,
    raw: bytes | None,
    end: ProcessEnd,
    started: int,
    release_ns: int | None,
) -> AttemptResult:
    verdict = _worker_verdict(request, raw, end)
    outcome = Outcome.SUCCESS if verdict.error is None else Outcome.FAILED
    if end.timed_out:
        outcome = Outcome.TIMEOUT
    return output.finished(
        outcome,
        started,
        output=verdict.value,
        exit_code=end.code if end.code != 0 and not end.timed_out else None,
        error=verdict.error,
        killed=end.killed,
        process=end.info,
        secrets=request.secrets,
        released_ns=release_ns,
    )


def _returned(
    request: AttemptRequest, checked: Checked, started: int, entered: list[int]
) -> AttemptResult:
    at = released(request, entered)
    if checked.error is not None:
        return output.finished(Outcome.FAILED, started, error=checked.error, released_ns=at)
    return output.finished(Outcome.SUCCESS, started, output=checked.value, released_ns=at)


def _write_json(path: str, document: Any) -> None:
    text = json.dumps(document, allow_nan=False)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        file.write(text)


def _unlink(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)
