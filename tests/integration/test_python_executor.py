"""Plain (sync) python tasks in a worker process: results, errors, and stopping it for real."""

from __future__ import annotations

import textwrap
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import pytest

from tapri_daemon.executors import Dispatcher
from tapri_daemon.interfaces import (
    AttemptRequest,
    AttemptResult,
    Outcome,
    ProcessInfo,
    RunInfo,
    Trigger,
)
from tapri_daemon.model import Task

START = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)
RUN = RunInfo(
    run_id="r1", workflow="wf", logical_date=START, data_interval_start=START,
    data_interval_end=START, trigger=Trigger.MANUAL, attempt=1, timezone="UTC",
)  # fmt: skip
KWARGS = {"params": {"region": "west"}, "outputs": {"extract": 41}, "run": RUN.as_dict(), "n": 1}

SYNC_TASKS = """
    import os, sys, time

    def add(outputs, n, params, run):
        print("adding for", params["region"])
        print("warning on stderr", file=sys.stderr)
        return {"total": outputs["extract"] + n, "logical_date": run["logical_date"],
                "pid": os.getpid()}

    def spin(n):
        with open("worker.pid", "w") as f:
            f.write(str(os.getpid()))
        while True:
            time.sleep(0.01)

    def broken(params):
        raise KeyError("no such region: s3cret")

    def not_json():
        return object()

    def dies():
        os._exit(3)

    def needs(unknown_thing):
        return 1

    async def awaited_in_worker(n):
        return n + 1

    def factory():
        async def inner(n):
            return n * 10
        return inner

    made_async = factory()
"""


class Recorder:
    def __init__(self) -> None:
        self.infos: list[ProcessInfo] = []

    async def spawned(self, info: ProcessInfo) -> None:
        self.infos.append(info)

    def stopped(self, killed: int) -> None:
        self.killed = killed


@pytest.fixture
def target(tmp_path: Path) -> Any:
    name = f"sync_tasks_{uuid.uuid4().hex[:10]}"
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(SYNC_TASKS))
    return lambda function: f"{name}:{function}"


def request_for(tmp_path: Path, target: str, **fields: Any) -> AttemptRequest:
    return AttemptRequest(
        task_id="py", task=Task(python=target), run=RUN, attempt=1, kwargs=KWARGS,
        log_path=str(tmp_path / "logs" / "py.1.log"), python_path=(str(tmp_path),),
        cwd=str(tmp_path), **fields,
    )  # fmt: skip


async def run(
    request: AttemptRequest, recorder: Recorder | None = None, direct_pipes: int | None = None
) -> AttemptResult:
    async with Dispatcher(direct_pipes=direct_pipes) as dispatcher:
        return await dispatcher.execute(request, recorder or Recorder())


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2] not in "ZX"


@pytest.mark.parametrize("direct_pipes", [None, 0], ids=["direct", "relayed"])
async def test_a_sync_function_runs_in_a_worker_with_injected_arguments(
    tmp_path: Path, target: Any, direct_pipes: int | None
) -> None:
    recorder = Recorder()
    result = await run(request_for(tmp_path, target("add")), recorder, direct_pipes)
    assert result.outcome is Outcome.SUCCESS, result.error
    (info,) = recorder.infos
    assert result.output == {"total": 42, "logical_date": START.isoformat(), "pid": info.pid}
    log = (tmp_path / "logs" / "py.1.log").read_text()
    assert "adding for west" in log and "warning on stderr" in log


async def test_a_sync_timeout_really_stops_the_worker(tmp_path: Path, target: Any) -> None:
    recorder = Recorder()
    began = time.monotonic()
    result = await run(request_for(tmp_path, target("spin"), timeout=1.5, kill_grace=2), recorder)
    assert result.outcome is Outcome.TIMEOUT
    assert time.monotonic() - began < 6
    pid = int((tmp_path / "worker.pid").read_text())
    assert recorder.infos[0].pid == pid
    assert not alive(pid)
    assert result.killed == 1


async def test_cancelling_a_sync_task_kills_the_worker(tmp_path: Path, target: Any) -> None:
    request = request_for(tmp_path, target("spin"))
    async with Dispatcher() as dispatcher, anyio.create_task_group() as group:
        group.start_soon(dispatcher.execute, request, Recorder())
        while not (tmp_path / "worker.pid").exists():
            await anyio.sleep(0.02)
        pid = int((tmp_path / "worker.pid").read_text())
        group.cancel_scope.cancel()
    assert not alive(pid)


async def test_exceptions_fail_with_type_and_message_and_a_logged_traceback(
    tmp_path: Path, target: Any
) -> None:
    result = await run(request_for(tmp_path, target("broken"), secrets=("s3cret",)))
    assert (result.outcome, result.error) == (Outcome.FAILED, "KeyError: 'no such region: ***'")
    assert result.exit_code is None
    log = (tmp_path / "logs" / "py.1.log").read_text()
    assert "Traceback" in log and "s3cret" not in log


async def test_a_non_json_return_and_a_dying_worker_fail(tmp_path: Path, target: Any) -> None:
    bad = await run(request_for(tmp_path, target("not_json")))
    assert bad.outcome is Outcome.FAILED
    assert (bad.error or "").startswith("the return value is not JSON-serialisable")
    dead = await run(request_for(tmp_path, target("dies")))
    assert (dead.outcome, dead.exit_code) == (Outcome.FAILED, 3)
    assert dead.error == "the python worker exited with code 3"


async def test_missing_arguments_are_refused_before_the_call(tmp_path: Path, target: Any) -> None:
    result = await run(request_for(tmp_path, target("needs")))
    assert result.outcome is Outcome.FAILED
    assert "needs the argument 'unknown_thing'" in (result.error or "")


async def test_async_functions_not_declared_as_such_still_run(tmp_path: Path, target: Any) -> None:
    made = await run(request_for(tmp_path, target("made_async")))
    assert (made.outcome, made.output) == (Outcome.SUCCESS, 10)
    assert made.process is not None  # not a top-level async def: the worker awaited it
    on_loop = await run(request_for(tmp_path, target("awaited_in_worker")))
    assert (on_loop.output, on_loop.process) == (2, None)
