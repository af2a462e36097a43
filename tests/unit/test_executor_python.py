"""python tasks on the event loop (async def) and the argument rules shared with the worker."""

from __future__ import annotations

import importlib
import textwrap
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tapri_daemon.executors import Dispatcher, worker
from tapri_daemon.interfaces import AttemptRequest, AttemptResult, Outcome, RunInfo, Trigger
from tapri_daemon.model import Task
from tapri_daemon.testing import FakeClock, NullObserver

START = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)
RUN = RunInfo(
    run_id="r1", workflow="wf", logical_date=START, data_interval_start=START,
    data_interval_end=START, trigger=Trigger.MANUAL, attempt=1, timezone="UTC",
)  # fmt: skip
KWARGS = {"params": {"p": 1}, "outputs": {"up": [1, 2]}, "run": RUN.as_dict(), "n": 5}


def module(tmp_path: Path, source: str) -> str:
    name = f"tasks_{uuid.uuid4().hex[:10]}"
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
    return name


def request_for(tmp_path: Path, target: str, **fields: Any) -> AttemptRequest:
    fields.setdefault("kwargs", KWARGS)
    return AttemptRequest(
        task_id="py", task=Task(python=target), run=RUN, attempt=1,
        log_path=str(tmp_path / "py.1.log"), python_path=(str(tmp_path),), **fields,
    )  # fmt: skip


async def run(tmp_path: Path, source: str, function: str, **fields: Any) -> AttemptResult:
    target = f"{module(tmp_path, source)}:{function}"
    async with Dispatcher() as dispatcher:
        return await dispatcher.execute(request_for(tmp_path, target, **fields), NullObserver())


ASYNC_TASKS = """
    import anyio

    async def pick(outputs, n, run):
        return {"sum": sum(outputs["up"]) + n, "run": run["run_id"]}

    async def everything(**kwargs):
        return sorted(kwargs)

    async def needs_more(params, missing):
        return 1

    async def boom(params):
        print("about to fail with s3cret")
        raise ValueError("bad value s3cret")

    async def slow():
        await anyio.sleep(30)

    async def not_json():
        return {1, 2}

    async def chatty():
        print("hello from a task")
        return "done"
"""


async def test_async_functions_get_arguments_by_name(tmp_path: Path) -> None:
    result = await run(tmp_path, ASYNC_TASKS, "pick")
    assert (result.outcome, result.output) == (Outcome.SUCCESS, {"sum": 8, "run": "r1"})
    assert result.process is None


async def test_var_keyword_gets_everything(tmp_path: Path) -> None:
    result = await run(tmp_path, ASYNC_TASKS, "everything")
    assert result.output == ["n", "outputs", "params", "run"]


async def test_an_unknown_required_parameter_fails_before_the_call(tmp_path: Path) -> None:
    result = await run(tmp_path, ASYNC_TASKS, "needs_more")
    assert result.outcome is Outcome.FAILED
    assert "needs the argument 'missing', which tapri does not provide" in (result.error or "")


async def test_an_exception_fails_with_its_type_and_message_masked(tmp_path: Path) -> None:
    result = await run(tmp_path, ASYNC_TASKS, "boom", secrets=("s3cret",))
    assert (result.outcome, result.error) == (Outcome.FAILED, "ValueError: bad value ***")
    log = (tmp_path / "py.1.log").read_text()
    assert "about to fail with ***" in log and "Traceback" in log and "s3cret" not in log


async def test_prints_go_to_the_attempt_log_not_to_stdout(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = await run(tmp_path, ASYNC_TASKS, "chatty")
    assert result.output == "done"
    assert (tmp_path / "py.1.log").read_text() == "hello from a task\n"
    assert "hello from a task" not in capsys.readouterr().out


async def test_an_async_timeout_and_a_non_json_return(tmp_path: Path) -> None:
    slow = await run(tmp_path, ASYNC_TASKS, "slow", timeout=0.1)
    assert (slow.outcome, slow.error) == (Outcome.TIMEOUT, "timed out after 0.1 s")
    bad = await run(tmp_path, ASYNC_TASKS, "not_json")
    assert bad.outcome is Outcome.FAILED
    assert "not JSON-serialisable" in (bad.error or "")


async def test_import_problems_fail_clearly(tmp_path: Path) -> None:
    async with Dispatcher() as dispatcher:
        missing = request_for(tmp_path, "no_such_module_here:f")
        result = await dispatcher.execute(missing, NullObserver())
        assert result.outcome is Outcome.FAILED
        assert result.error == (
            "cannot import no_such_module_here:f: "
            "ModuleNotFoundError: no module named 'no_such_module_here'"
        )
        name = module(tmp_path, "async def real(): return 1\n")
        absent = await dispatcher.execute(request_for(tmp_path, f"{name}:other"), NullObserver())
        assert "has no attribute 'other'" in (absent.error or "")


def test_bind_rules() -> None:
    def plain(params, outputs=None, *, run, n=3):  # type: ignore[no-untyped-def]
        return None

    def positional(a, /):  # type: ignore[no-untyped-def]
        return a

    shape = worker.plan(plain)
    kwargs, problem = worker.bind("m:plain", shape, {**KWARGS, "extra": 1})
    assert problem is None
    assert sorted(kwargs) == ["n", "outputs", "params", "run"]
    _, problem = worker.bind("m:plain", shape, {"params": {}})
    assert problem is not None and "'run'" in problem
    _, problem = worker.bind("m:positional", worker.plan(positional), {"a": 1})
    assert problem is not None and "'a'" in problem


async def test_a_precise_async_function_is_entered_at_the_instant(tmp_path: Path) -> None:
    clock = FakeClock(START)
    fire_ns = clock.time_ns() + 5_000_000_000
    name = module(tmp_path, "CLOCK = None\n\nasync def book(n):\n    return CLOCK.time_ns() + n\n")
    worker.add_paths((str(tmp_path),))
    importlib.import_module(name).CLOCK = clock  # the function reads the fake time
    request = request_for(tmp_path, f"{name}:book", fire_at_ns=fire_ns)
    async with Dispatcher(clock=clock) as dispatcher, clock.autojump():
        result = await dispatcher.execute(request, NullObserver())
    assert (result.outcome, result.output) == (Outcome.SUCCESS, fire_ns + 5)
    assert clock.waits == [START + timedelta(seconds=5)]
    assert result.released_ns is not None and result.released_ns == result.started_ns
