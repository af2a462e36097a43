"""The Store contract, run against every implementation (see conftest-like fixture below)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from tapri_daemon.errors import StoreError
from tapri_daemon.interfaces import (
    AttemptRecord,
    DaemonRecord,
    FireRecord,
    FireStatus,
    Outcome,
    RunRecord,
    RunState,
    Store,
    TaskRecord,
    TaskState,
    Trigger,
)
from tapri_daemon.store.memory import MemoryStore

T0 = datetime(2025, 3, 10, 4, 30, tzinfo=UTC)
IST = timezone(timedelta(hours=5, minutes=30))

IMPLEMENTATIONS = ["memory", "sqlite"]


@pytest.fixture(params=IMPLEMENTATIONS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    if request.param == "memory":
        yield MemoryStore()
        return
    from tapri_daemon.store.sqlite import SQLiteStore

    async with SQLiteStore.open(tmp_path / "state" / "tapri.db") as sqlite_store:
        yield sqlite_store


def run(run_id: str, **changes: object) -> RunRecord:
    values: dict[str, object] = {
        "run_id": run_id,
        "workflow": "wf",
        "logical_date": T0,
        "trigger": Trigger.SCHEDULE,
        "state": RunState.RUNNING,
        "queued_at": T0,
    }
    values.update(changes)
    return RunRecord(**values)  # type: ignore[arg-type]


def attempt(run_id: str, task_id: str, n: int, **changes: object) -> AttemptRecord:
    values: dict[str, object] = {
        "run_id": run_id,
        "task_id": task_id,
        "attempt": n,
        "outcome": None,
        "started_at": T0 + timedelta(seconds=n),
    }
    values.update(changes)
    return AttemptRecord(**values)  # type: ignore[arg-type]


def fire(workflow: str, at: datetime, **changes: object) -> FireRecord:
    values: dict[str, object] = {
        "workflow": workflow,
        "scheduled_for": at,
        "recorded_at": at + timedelta(milliseconds=3),
        "status": FireStatus.STARTED,
    }
    values.update(changes)
    return FireRecord(**values)  # type: ignore[arg-type]


async def test_run_round_trips_every_field(store: Store) -> None:
    full = run(
        "r1",
        logical_date=datetime(2025, 3, 10, 10, 0, 0, 123456, tzinfo=IST),
        params={"city": "Pune", "n": [1, 2.5, None], "ok": True},
        started_at=T0 + timedelta(microseconds=1),
        ended_at=T0 + timedelta(seconds=5),
        scheduled_for=T0,
        reason="because",
        daemon_id="d1",
        trigger=Trigger.CATCHUP,
    )
    await store.save_run(full)
    got = await store.get_run("r1")
    assert got == full
    assert got is not None and got.logical_date.utcoffset() == timedelta(0)
    assert await store.get_run("nope") is None


async def test_save_run_replaces(store: Store) -> None:
    await store.save_run(run("r1"))
    await store.save_run(run("r1", state=RunState.SUCCESS, ended_at=T0 + timedelta(hours=1)))
    got = await store.get_run("r1")
    assert got is not None and got.state is RunState.SUCCESS
    assert len(await store.list_runs()) == 1


async def test_naive_datetimes_and_non_json_values_are_refused(store: Store) -> None:
    with pytest.raises(StoreError, match="naive"):
        await store.save_run(run("r1", queued_at=datetime(2025, 1, 1)))
    with pytest.raises(StoreError, match="JSON"):
        await store.save_task(
            TaskRecord(run_id="r1", task_id="t", state=TaskState.SUCCESS, output={1, 2})
        )
    assert await store.get_run("r1") is None


async def test_tasks_keep_outputs_and_insertion_order(store: Store) -> None:
    await store.save_run(run("r1"))
    big = {"rows": [{"i": i, "text": "x" * 50} for i in range(2000)]}
    await store.save_task(TaskRecord(run_id="r1", task_id="zeta", state=TaskState.PENDING))
    await store.save_task(
        TaskRecord(
            run_id="r1",
            task_id="alpha",
            state=TaskState.SUCCESS,
            attempts=2,
            output=big,
            started_at=T0,
            ended_at=T0 + timedelta(seconds=1),
        )
    )
    await store.save_task(
        TaskRecord(run_id="r1", task_id="zeta", state=TaskState.FAILED, reason="exit 3")
    )
    tasks = await store.get_tasks("r1")
    assert [t.task_id for t in tasks] == ["zeta", "alpha"]
    assert tasks[0].state is TaskState.FAILED and tasks[0].reason == "exit 3"
    assert tasks[1].output == big and tasks[1].attempts == 2
    assert await store.get_tasks("other") == []


async def test_output_can_be_cleared_and_scalar(store: Store) -> None:
    for output in ("42", 0, None):
        await store.save_task(
            TaskRecord(run_id="r1", task_id="t", state=TaskState.SUCCESS, output=output)
        )
        assert (await store.get_tasks("r1"))[0].output == output


async def test_attempts_round_trip_and_filter(store: Store) -> None:
    first = attempt(
        "r1",
        "a",
        1,
        outcome=Outcome.FAILED,
        ended_at=T0 + timedelta(seconds=2),
        exit_code=3,
        error="boom",
        pid=123,
        pgid=123,
        pid_start_time=98765,
        daemon_id="d1",
        log_path="/logs/wf/r1/a.1.log",
        killed=2,
        fire_target_ns=1_700_000_000_000_000_000,
        fire_actual_ns=1_700_000_000_000_150_000,
    )
    await store.save_attempt(first)
    await store.save_attempt(attempt("r1", "a", 2))
    await store.save_attempt(attempt("r1", "b", 1, outcome=Outcome.SUCCESS))
    all_attempts = await store.get_attempts("r1")
    assert [(a.task_id, a.attempt) for a in all_attempts] == [("a", 1), ("a", 2), ("b", 1)]
    assert all_attempts[0] == first and first.lateness_us == 150.0
    assert [a.attempt for a in await store.get_attempts("r1", "a")] == [1, 2]
    running = await store.running_attempts()
    assert [(a.task_id, a.attempt) for a in running] == [("a", 2)]
    await store.save_attempt(attempt("r1", "a", 2, outcome=Outcome.SUCCESS))
    assert await store.running_attempts() == []


async def test_list_runs_filters_newest_first(store: Store) -> None:
    for i in range(6):
        state = RunState.SUCCESS if i % 2 else RunState.FAILED
        wf = "a" if i < 4 else "b"
        await store.save_run(
            run(f"r{i}", workflow=wf, state=state, queued_at=T0 + timedelta(minutes=i))
        )
    assert [r.run_id for r in await store.list_runs()] == [f"r{i}" for i in range(5, -1, -1)]
    assert [r.run_id for r in await store.list_runs(workflow="a", limit=2)] == ["r3", "r2"]
    states = (RunState.SUCCESS,)
    assert [r.run_id for r in await store.list_runs(states=states)] == ["r5", "r3", "r1"]
    assert [r.run_id for r in await store.list_runs(workflow="b", states=states)] == ["r5"]


async def test_unfinished_and_finished_before(store: Store) -> None:
    await store.save_run(run("old", state=RunState.SUCCESS, ended_at=T0))
    await store.save_run(run("new", state=RunState.FAILED, ended_at=T0 + timedelta(days=40)))
    await store.save_run(run("q", state=RunState.QUEUED, queued_at=T0 + timedelta(seconds=1)))
    await store.save_run(run("r", state=RunState.RUNNING))
    assert [r.run_id for r in await store.unfinished_runs()] == ["r", "q"]
    cutoff = T0 + timedelta(days=30)
    assert [r.run_id for r in await store.finished_runs_before(cutoff)] == ["old"]


async def test_delete_runs_removes_tasks_and_attempts(store: Store) -> None:
    for run_id in ("r1", "r2"):
        await store.save_run(run(run_id))
        await store.save_task(
            TaskRecord(run_id=run_id, task_id="t", state=TaskState.SUCCESS, output=[1])
        )
        await store.save_attempt(attempt(run_id, "t", 1))
    await store.delete_runs(["r1"])
    assert await store.get_run("r1") is None
    assert await store.get_tasks("r1") == [] and await store.get_attempts("r1") == []
    assert (await store.get_tasks("r2"))[0].output == [1]
    assert len(await store.get_attempts("r2")) == 1


async def test_fires_are_unique_per_instant(store: Store) -> None:
    at = T0.astimezone(IST)
    assert await store.record_fire(fire("wf", at)) is True
    assert await store.record_fire(fire("wf", T0, status=FireStatus.SKIPPED)) is False
    assert await store.record_fire(fire("other", T0)) is True
    last = await store.last_fire("wf")
    assert last is not None and last.status is FireStatus.STARTED and last.scheduled_for == T0
    await store.update_fire(fire("wf", T0, status=FireStatus.QUEUED, run_id="r9"))
    last = await store.last_fire("wf")
    assert last is not None and last.status is FireStatus.QUEUED and last.run_id == "r9"
    await store.record_fire(fire("wf", T0 + timedelta(days=1), missed_count=3))
    fires = await store.last_fires()
    assert set(fires) == {"wf", "other"} and fires["wf"].missed_count == 3
    assert await store.last_fire("none") is None


async def test_paused(store: Store) -> None:
    await store.set_paused("a", True)
    await store.set_paused("b", True)
    await store.set_paused("a", True)
    await store.set_paused("b", False)
    assert await store.paused() == {"a"}


async def test_daemon_instances(store: Store) -> None:
    first = DaemonRecord(daemon_id="d1", pid=10, host="h", started_at=T0, config_digest="abc")
    await store.record_daemon(first)
    second = DaemonRecord(daemon_id="d2", pid=11, host="h", started_at=T0 + timedelta(hours=1))
    await store.record_daemon(second)
    stopped = DaemonRecord(
        daemon_id="d1", pid=10, host="h", started_at=T0, stopped_at=T0 + timedelta(minutes=5)
    )
    await store.record_daemon(stopped)
    assert await store.daemon_instances() == [second, stopped]
    assert await store.daemon_instances(limit=1) == [second]


async def test_run_stats(store: Store) -> None:
    spans = [(RunState.SUCCESS, 10), (RunState.SUCCESS, 20), (RunState.FAILED, 30)]
    for i, (state, seconds) in enumerate(spans):
        start = T0 + timedelta(hours=i)
        await store.save_run(
            run(f"r{i}", state=state, queued_at=start, started_at=start,
                ended_at=start + timedelta(seconds=seconds))
        )  # fmt: skip
    await store.save_run(run("live", queued_at=T0 + timedelta(hours=5)))
    await store.save_run(run("ancient", workflow="wf", queued_at=T0 - timedelta(days=9)))
    await store.save_attempt(attempt("r0", "t", 1, outcome=Outcome.FAILED))
    await store.save_attempt(
        attempt("r0", "t", 2, outcome=Outcome.SUCCESS, fire_target_ns=0, fire_actual_ns=5_000_000)
    )
    await store.save_attempt(attempt("r1", "t", 1, outcome=Outcome.LOST))
    await store.save_attempt(
        attempt("r1", "t", 2, outcome=Outcome.SUCCESS, fire_target_ns=0, fire_actual_ns=200_000)
    )
    await store.record_fire(fire("wf", T0, status=FireStatus.MISSED))
    await store.record_fire(fire("wf", T0 + timedelta(hours=1), missed_count=4))
    await store.save_run(run("x", workflow="other", state=RunState.CANCELLED))
    stats = await store.run_stats(T0 - timedelta(days=1))
    assert [s.workflow for s in stats] == ["other", "wf"]
    wf = stats[1]
    assert (wf.runs, wf.succeeded, wf.failed, wf.unfinished) == (4, 2, 1, 1)
    assert wf.success_rate == pytest.approx(2 / 3)
    assert (wf.duration_p50_s, wf.duration_p95_s, wf.duration_max_s) == (20.0, 30.0, 30.0)
    assert (wf.retries, wf.lost_attempts, wf.missed_fires) == (2, 1, 5)
    assert wf.late_fires == 1 and wf.lateness_max_us == 5000.0
    assert wf.last_success_at == T0 + timedelta(hours=1, seconds=20)
    assert wf.last_run_at == T0 + timedelta(hours=5)
    only = await store.run_stats(T0, "other", late_after=timedelta(seconds=1))
    assert [s.workflow for s in only] == ["other"] and only[0].success_rate == 0.0


async def test_submit_saves_tasks_and_attempts_as_one_write(store: Store) -> None:
    from tapri_daemon.engine.live import Batching

    assert isinstance(store, Batching)
    running = TaskRecord(run_id="r1", task_id="t", state=TaskState.RUNNING, attempts=1)
    first = attempt("r1", "t", 1)
    done = TaskRecord(run_id="r1", task_id="t", state=TaskState.SUCCESS, attempts=1, output=[1])
    last = attempt("r1", "t", 1, outcome=Outcome.SUCCESS, ended_at=T0 + timedelta(seconds=3))
    start = store.submit(tasks=[running], attempts=[first])
    end = store.submit(tasks=[done], attempts=[last])  # queued before the first commits
    await start
    await end
    assert await store.get_tasks("r1") == [done]
    assert await store.get_attempts("r1") == [last]


async def test_submit_refuses_a_bad_record_and_keeps_earlier_writes(store: Store) -> None:
    from tapri_daemon.engine.live import Batching

    assert isinstance(store, Batching)
    good = TaskRecord(run_id="r1", task_id="t", state=TaskState.RUNNING)
    bad = TaskRecord(run_id="r1", task_id="t", state=TaskState.SUCCESS, output={1, 2})
    kept = store.submit(tasks=[good])
    refused = store.submit(tasks=[bad], attempts=[attempt("r1", "t", 1)])
    await kept
    with pytest.raises(StoreError, match="JSON"):
        await refused
    assert await store.get_tasks("r1") == [good]
    assert await store.get_attempts("r1") == []
