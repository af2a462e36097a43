"""at_fire tasks are handed to the executor before their instant (armed): waiting, then
running from the instant; the actual start is the executor's release stamp."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import anyio
from structlog.testing import capture_logs

from tapri_daemon import logs
from tapri_daemon.interfaces import (
    AttemptRequest,
    AttemptResult,
    Outcome,
    RunRecord,
    RunState,
    TaskState,
)
from tapri_daemon.testing import EngineHarness, definitions_of

PY = "m:f"


def harness(tmp_path: Path, tasks: dict[str, dict[str, Any]], **kw: Any) -> EngineHarness:
    return EngineHarness(definitions_of(tasks, **kw), log_dir=tmp_path)


def ns(h: EngineHarness, seconds: float) -> int:
    return h.clock.time_ns() + int(seconds * 1e9)


async def test_the_executor_gets_the_task_before_its_instant_and_it_runs_from_there(
    tmp_path: Path,
) -> None:
    h = harness(tmp_path, {"book": {"python": PY, "at_fire": True}}, precise=True)
    fire_at = h.clock.now() + timedelta(seconds=30)
    fire_ns = ns(h, 30)
    called: list[int] = []

    async def handler(request: AttemptRequest) -> str:
        called.append(h.clock.time_ns())
        await h.clock.sleep(5)
        return "booked"

    h.executor.handler = handler
    record = await h.create()
    box: dict[str, RunRecord] = {}

    async def execute() -> None:
        box["run"] = await h.engine.execute(record.run_id, fire_at=fire_at)

    with capture_logs() as events:
        async with anyio.create_task_group() as tg:
            tg.start_soon(execute)
            await h.clock.run_until_idle()
            assert [r.fire_at_ns for r in h.executor.requests] == [fire_ns]  # handed over
            assert called == [] and h.executor.running == 1
            assert (await h.tasks(record.run_id))["book"].state is TaskState.WAITING
            [armed] = await h.attempts(record.run_id, "book")
            assert (armed.outcome, armed.fire_target_ns) == (None, fire_ns)
            h.clock.advance(30)
            await h.clock.run_until_idle()
            assert called == [fire_ns]
            h.clock.advance(0.05)  # marked a little later: no bookkeeping at the instant
            await h.clock.run_until_idle()
            running = (await h.tasks(record.run_id))["book"]
            assert (running.state, running.started_at) == (TaskState.RUNNING, fire_at)
            h.clock.advance(5)
    assert box["run"].state is RunState.SUCCESS
    [attempt] = await h.attempts(record.run_id, "book")
    assert (attempt.fire_actual_ns, attempt.started_at) == (fire_ns, fire_at)
    kinds = [e["event"] for e in events if e.get("task_id") == "book"]
    assert kinds.index(logs.TASK_WAITING) < kinds.index(logs.TASK_STARTED)
    assert [e["lateness_us"] for e in events if e["event"] == logs.TASK_FIRED] == [0]


async def test_cancelled_while_armed_nothing_fired(tmp_path: Path) -> None:
    h = harness(tmp_path, {"book": {"python": PY, "at_fire": True}}, precise=True)
    called: list[str] = []
    h.executor.handler = lambda request: called.append(request.task_id)
    record = await h.create()
    box: dict[str, RunRecord] = {}

    async def execute() -> None:
        box["run"] = await h.engine.execute(record.run_id, fire_at=h.clock.now() + timedelta(1))

    with capture_logs() as events:
        async with anyio.create_task_group() as tg:
            tg.start_soon(execute)
            await h.clock.run_until_idle()
            assert h.engine.cancel(record.run_id, "stopped by test")
    assert box["run"].state is RunState.CANCELLED and called == []
    [attempt] = await h.attempts(record.run_id, "book")
    assert attempt.outcome is Outcome.CANCELLED and attempt.fire_actual_ns is None
    assert logs.TASK_FIRED not in [e["event"] for e in events]


async def test_an_attempt_that_ends_before_its_release_records_no_start(
    tmp_path: Path,
) -> None:
    h = harness(tmp_path, {"book": {"python": PY, "at_fire": True}}, precise=True)

    def not_prepared(request: AttemptRequest) -> AttemptResult:
        now = h.clock.time_ns()
        return AttemptResult(
            outcome=Outcome.FAILED, error="cannot import", started_ns=now, ended_ns=now
        )

    h.executor.handler = not_prepared
    with capture_logs() as events:
        run = await h.run(fire_at=h.clock.now() + timedelta(seconds=10))
    assert run.state is RunState.FAILED
    [attempt] = await h.attempts(run.run_id, "book")
    assert attempt.fire_target_ns is not None and attempt.fire_actual_ns is None
    assert attempt.lateness_us is None
    assert logs.TASK_FIRED not in [e["event"] for e in events]


async def test_the_other_tasks_of_a_precise_run_see_its_instant(tmp_path: Path) -> None:
    tasks = {"login": {"python": PY}, "book": {"python": PY, "after": "login", "at_fire": True}}
    h = harness(tmp_path, tasks, precise=True)
    fire_at = h.clock.now() + timedelta(seconds=5)
    fire_ns = ns(h, 5)
    run = await h.run(fire_at=fire_at)
    assert run.state is RunState.SUCCESS
    login, book = (next(r for r in h.executor.requests if r.task_id == t) for t in tasks)
    assert (login.fire_at_ns, login.env["TAPRI_FIRE_AT_NS"]) == (None, str(fire_ns))
    assert book.fire_at_ns == fire_ns


async def test_a_plain_workflow_gets_no_instant(tmp_path: Path) -> None:
    h = harness(tmp_path, {"t": {"python": PY}})
    await h.run()
    [request] = h.executor.requests
    assert request.fire_at_ns is None and "TAPRI_FIRE_AT_NS" not in request.env
