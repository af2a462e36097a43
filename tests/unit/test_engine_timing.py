"""The engine and time: workflow timeout, cancel(), at_fire instants, deadlines."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

import anyio
from structlog.testing import capture_logs

from tapri_daemon import logs
from tapri_daemon.interfaces import AttemptRequest, EventKind, Outcome, RunState
from tapri_daemon.testing import EngineHarness, MemoryStore, definitions_of

PY = "m:f"


def harness(tmp_path: Path, tasks: dict[str, dict[str, Any]], **kw: Any) -> EngineHarness:
    return EngineHarness(definitions_of(tasks, **kw), log_dir=tmp_path)


def sleeper(h: EngineHarness, seconds: dict[str, float]) -> Any:
    async def handler(request: AttemptRequest) -> str:
        await h.clock.sleep(seconds.get(request.task_id, 0))
        return f"{request.task_id} done"

    return handler


async def test_workflow_timeout_cancels_the_run(tmp_path: Path) -> None:
    tasks = {
        "quick": {"python": PY},
        "slow": {"python": PY, "after": "quick"},
        "never": {"python": PY, "after": "slow"},
    }
    h = harness(tmp_path, tasks, timeout="30s")
    h.executor.handler = sleeper(h, {"quick": 5, "slow": 3600})
    run = await h.run()
    assert run.state is RunState.FAILED
    assert run.reason == "run timed out after 30s"
    assert h.clock.now() - run.logical_date == timedelta(seconds=30)
    assert await h.states(run.run_id) == {
        "quick": "success",
        "slow": "cancelled",
        "never": "cancelled",
    }
    assert [a.outcome for a in await h.attempts(run.run_id, "slow")] == [Outcome.CANCELLED]
    assert EventKind.RUN_FAILED in h.notifier.kinds()


async def test_cancel_stops_running_tasks(tmp_path: Path) -> None:
    tasks = {"a": {"python": PY}, "b": {"python": PY}, "c": {"python": PY, "after": "a"}}
    h = harness(tmp_path, tasks)
    h.executor.handler = sleeper(h, {"a": 100, "b": 100})
    record = await h.create()
    result: dict[str, Any] = {}

    async def execute() -> None:
        result["run"] = await h.engine.execute(record.run_id)

    async with anyio.create_task_group() as tg:
        tg.start_soon(execute)
        await h.clock.run_until_idle()
        assert h.engine.running() == [record.run_id]
        assert h.executor.running == 2
        with capture_logs() as events:
            assert h.engine.cancel(record.run_id, "stopped by test")
    run = result["run"]
    assert run.state is RunState.CANCELLED
    assert run.reason == "stopped by test"
    assert await h.states(run.run_id) == {"a": "cancelled", "b": "cancelled", "c": "cancelled"}
    assert h.engine.running() == []
    assert not h.engine.cancel(record.run_id)
    assert logs.RUN_CANCELLED in [e["event"] for e in events]
    assert EventKind.RUN_FAILED not in h.notifier.kinds()


async def test_at_fire_task_waits_for_the_instant(tmp_path: Path) -> None:
    tasks = {
        "prepare": {"python": PY},
        "book": {"python": PY, "after": "prepare", "at_fire": True},
        "book_late": {"python": PY, "after": "prepare", "at_fire": True, "fire_offset": "20ms"},
    }
    h = harness(tmp_path, tasks, precise=True)
    started: dict[str, int] = {}

    async def handler(request: AttemptRequest) -> str:
        started[request.task_id] = h.clock.time_ns()
        await h.clock.sleep(2 if request.task_id == "prepare" else 0)
        return "ok"

    h.executor.handler = handler
    fire_at = h.clock.now() + timedelta(minutes=2)
    fire_ns = int(fire_at.timestamp()) * 10**9
    with capture_logs() as events:
        run = await h.run(fire_at=fire_at)
    assert run.state is RunState.SUCCESS
    assert started["book"] == fire_ns
    assert started["book_late"] == fire_ns + 20_000_000
    request = next(r for r in h.executor.requests if r.task_id == "book")
    assert request.fire_at_ns == fire_ns
    attempt = (await h.attempts(run.run_id, "book"))[0]
    assert (attempt.fire_target_ns, attempt.fire_actual_ns) == (fire_ns, fire_ns)
    waiting = [e for e in events if e["event"] == logs.TASK_WAITING]
    assert sorted(e["task_id"] for e in waiting) == ["book", "book_late"]
    fired = [e for e in events if e["event"] == logs.TASK_FIRED]
    assert {e["task_id"]: e["lateness_us"] for e in fired} == {"book": 0, "book_late": 0}
    assert logs.FIRE_LATE not in [e["event"] for e in events]


async def test_at_fire_task_behind_a_late_upstream_fires_late(tmp_path: Path) -> None:
    tasks = {"prepare": {"python": PY}, "book": {"python": PY, "after": "prepare", "at_fire": True}}
    h = harness(tmp_path, tasks, precise=True)
    h.executor.handler = sleeper(h, {"prepare": 90})
    fire_at = h.clock.now() + timedelta(seconds=60)
    with capture_logs() as events:
        run = await h.run(fire_at=fire_at)
    assert run.state is RunState.SUCCESS
    late = [e for e in events if e["event"] == logs.FIRE_LATE]
    assert len(late) == 1 and late[0]["task_id"] == "book"
    assert late[0]["lateness_us"] == 30_000_000
    (event,) = h.notifier.of(EventKind.FIRE_LATE)
    assert event.task_id == "book" and event.details["lateness_us"] == 30_000_000
    attempt = (await h.attempts(run.run_id, "book"))[0]
    assert attempt.lateness_us == 30_000_000


async def test_without_fire_at_the_scheduled_instant_is_used(tmp_path: Path) -> None:
    h = harness(tmp_path, {"book": {"python": PY, "at_fire": True}}, precise=True)
    scheduled = h.clock.now() + timedelta(seconds=5)
    record = await h.create(logical_date=scheduled, scheduled_for=scheduled)
    async with h.clock.autojump():
        run = await h.engine.execute(record.run_id)
    assert run.state is RunState.SUCCESS
    assert h.clock.waits == [scheduled]


async def test_workflow_deadline_alerts_and_the_run_goes_on(tmp_path: Path) -> None:
    h = harness(tmp_path, {"t": {"python": PY}}, deadline="10m")
    h.executor.handler = sleeper(h, {"t": 3600})
    with capture_logs() as events:
        run = await h.run()
    assert run.state is RunState.SUCCESS
    missed = [e for e in events if e["event"] == logs.DEADLINE_MISSED]
    assert len(missed) == 1 and missed[0]["task_id"] is None
    (event,) = h.notifier.of(EventKind.DEADLINE_MISSED)
    assert event.at == run.logical_date + timedelta(minutes=10)


async def test_workflow_deadline_with_cancel_ends_the_run(tmp_path: Path) -> None:
    h = harness(tmp_path, {"t": {"python": PY}}, deadline="09:45", deadline_action="cancel")
    h.executor.handler = sleeper(h, {"t": 3600})
    run = await h.run()  # logical 09:30 UTC
    assert run.state is RunState.FAILED
    assert run.reason is not None and run.reason.startswith("run missed its deadline (09:45:00")
    assert run.ended_at == run.logical_date + timedelta(minutes=15)
    assert await h.states(run.run_id) == {"t": "cancelled"}


async def test_task_deadline_with_cancel_cancels_the_task(tmp_path: Path) -> None:
    tasks = {
        "slow": {"python": PY, "deadline": "1m", "deadline_action": "cancel"},
        "fast": {"python": PY, "deadline": "1m", "deadline_action": "cancel"},
    }
    h = harness(tmp_path, tasks)
    h.executor.handler = sleeper(h, {"slow": 600, "fast": 1})
    run = await h.run()
    assert run.state is RunState.FAILED
    records = await h.tasks(run.run_id)
    assert str(records["slow"].state) == "cancelled"
    assert "deadline" in (records["slow"].reason or "")
    assert str(records["fast"].state) == "success"
    events = h.notifier.of(EventKind.DEADLINE_MISSED)
    assert [e.task_id for e in events] == ["slow"]


async def test_data_interval_and_calendar_come_from_the_workflow(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from tapri_daemon.model import Definitions

    defs = Definitions.model_validate(
        {
            "calendar": {"ops": {"weekend": ["sat", "sun"], "extra_holidays": ["2026-01-09"]}},
            "workflow": {
                "w": {
                    "schedule": "0 15 * * 1-5",
                    "timezone": "Asia/Kolkata",
                    "calendar": "ops",
                    "task": {
                        "t": {
                            "command": [
                                "{{ data_interval_start.isoformat() }}",
                                "{{ data_interval_end.isoformat() }}",
                                "{{ next_business_day() }}",
                                "{{ ds }}",
                            ]
                        }
                    },
                }
            },
        }
    )
    h = EngineHarness(defs, log_dir=tmp_path)
    thursday = datetime(2026, 1, 8, 9, 30, tzinfo=UTC)  # 15:00 in Kolkata
    run = await h.run(logical_date=thursday, scheduled_for=thursday)
    assert run.state is RunState.SUCCESS
    assert h.executor.requests[0].argv == (
        "2026-01-07T15:00:00+05:30",
        "2026-01-08T15:00:00+05:30",
        "2026-01-12",  # Friday the 9th is a holiday in this calendar
        "2026-01-08",
    )
    assert h.executor.requests[0].run.data_interval_start == datetime(2026, 1, 7, 9, 30, tzinfo=UTC)


class SlowCommits(MemoryStore):
    """A store whose commits wait for ``release()``, as a busy disk would."""

    def __init__(self) -> None:
        super().__init__()
        self.held: list[asyncio.Future[int]] = []
        self.holding = False

    def submit(self, **records: Any) -> asyncio.Future[int]:
        done = super().submit(**records)
        if not self.holding:
            return done
        late: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        done.add_done_callback(lambda _: self.held.append(late))
        return late

    def release(self) -> None:
        self.holding = False
        for future in self.held:
            if not future.done():  # a waiter's cancel must not have cancelled it
                future.set_result(1)


async def test_a_cancel_before_the_start_is_committed_still_records_the_end(
    tmp_path: Path,
) -> None:
    """The run is cancelled while its attempts wait for their first commit (the observer
    awaits it before recording the pid): each attempt still ends `cancelled`, logged."""
    store = SlowCommits()
    h = EngineHarness(definitions_of({"a": {"python": PY}, "b": {"python": PY}}),
                      log_dir=tmp_path, store=store)  # fmt: skip
    h.executor.report_spawn = True
    record = await h.create()
    store.holding = True
    with capture_logs() as events:
        async with anyio.create_task_group() as tg:
            tg.start_soon(h.engine.execute, record.run_id)
            await h.clock.run_until_idle()
            assert len(store.held) == 2 and h.executor.requests  # both starts wait
            h.engine.cancel(record.run_id, "stopped by test")
            await h.clock.run_until_idle()
            store.release()
    for task_id in ("a", "b"):
        (attempt,) = await h.attempts(record.run_id, task_id)
        assert attempt.outcome is Outcome.CANCELLED and attempt.error == "stopped by test"
        assert attempt.killed == 1  # the executor's observer.stopped() reaches the row
    finished = [e for e in events if e["event"] == logs.TASK_FINISHED]
    assert sorted(e["task_id"] for e in finished) == ["a", "b"]
    assert {e["outcome"] for e in finished} == {"cancelled"}
