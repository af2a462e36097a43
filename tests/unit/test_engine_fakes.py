"""The fakes in tapri_daemon.testing behave like the seams they stand for."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import anyio
import pytest

from tapri_daemon.interfaces import AttemptRequest, Outcome, RunInfo, Trigger
from tapri_daemon.model import Task
from tapri_daemon.testing import Failure, FakeClock, FakeExecutor, NullObserver

START = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)


def _request(task_id: str = "t", timeout: float | None = None) -> AttemptRequest:
    run = RunInfo(
        run_id="r",
        workflow="w",
        logical_date=START,
        data_interval_start=START,
        data_interval_end=START,
        trigger=Trigger.MANUAL,
        attempt=1,
        timezone="UTC",
    )
    task = Task(python="m:f")
    return AttemptRequest(
        task_id=task_id, task=task, run=run, attempt=1, log_path="/dev/null", timeout=timeout
    )


async def test_advance_wakes_sleepers_in_deadline_order() -> None:
    clock = FakeClock(START)
    woke: list[str] = []

    async def sleeper(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append(name)

    async with anyio.create_task_group() as tg:
        tg.start_soon(sleeper, "late", 10)
        tg.start_soon(sleeper, "early", 5)
        await clock.run_until_idle()
        assert woke == []
        clock.advance(4.999)
        await clock.run_until_idle()
        assert woke == []
        clock.advance(10)
    assert woke == ["early", "late"]
    assert clock.sleeps == [10, 5]
    assert clock.now() == START + timedelta(seconds=14.999)


async def test_autojump_runs_sleeps_instantly_and_exactly() -> None:
    clock = FakeClock(START)
    seen: list[datetime] = []
    async with clock.autojump():
        for delay in (30, 60, 120):
            await clock.sleep(delay)
            seen.append(clock.now())
        await clock.sleep_until(START + timedelta(hours=1))
    assert seen == [START + timedelta(seconds=s) for s in (30, 90, 210)]
    assert clock.now() == START + timedelta(hours=1)
    assert clock.waits == [START + timedelta(hours=1)]


async def test_sleep_until_the_past_returns_at_once() -> None:
    clock = FakeClock(START)
    await clock.sleep_until(START - timedelta(seconds=1))
    assert clock.now() == START


async def test_cancelled_sleeper_is_dropped() -> None:
    clock = FakeClock(START)
    with anyio.move_on_after(0.01):
        await clock.sleep(100)
    assert clock.next_deadline is None


async def test_fake_executor_results() -> None:
    def handler(request: AttemptRequest) -> object:
        if request.task_id == "boom":
            raise RuntimeError("kaput")
        if request.task_id == "code":
            return Failure(exit_code=3)
        return {"got": request.task_id}

    executor = FakeExecutor(handler)
    ok = await executor.execute(_request("ok"), NullObserver())
    boom = await executor.execute(_request("boom"), NullObserver())
    code = await executor.execute(_request("code"), NullObserver())
    assert (ok.outcome, ok.output) == (Outcome.SUCCESS, {"got": "ok"})
    assert (boom.outcome, boom.error) == (Outcome.FAILED, "RuntimeError: kaput")
    assert (code.outcome, code.exit_code) == (Outcome.FAILED, 3)
    assert executor.task_ids() == ["ok", "boom", "code"]


async def test_fake_executor_timeout_on_the_fake_clock() -> None:
    clock = FakeClock(START)

    async def slow(_: AttemptRequest) -> str:
        await clock.sleep(100)
        return "done"

    executor = FakeExecutor(slow, clock=clock)
    async with clock.autojump():
        result = await executor.execute(_request(timeout=5), NullObserver())
    assert result.outcome == Outcome.TIMEOUT
    assert clock.now() == START + timedelta(seconds=5)


def test_naive_start_refused() -> None:
    with pytest.raises(ValueError):
        FakeClock(datetime(2025, 1, 1))
