"""The engine on fakes: retries, trigger rules, allow_failure, races, outputs, limits."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import anyio
import pytest
from structlog.testing import capture_logs

from tapri_daemon import logs
from tapri_daemon.interfaces import AttemptRequest, EventKind, Outcome, RunState
from tapri_daemon.testing import EngineHarness, Failure, definitions_of

PY = "m:f"
NO_JITTER = {"retry_jitter": False}


def harness(tmp_path: Path, tasks: dict[str, dict[str, Any]], **kw: Any) -> EngineHarness:
    max_parallel = kw.pop("max_parallel_tasks", 32)
    defs = definitions_of(tasks, **kw)
    return EngineHarness(defs, log_dir=tmp_path, max_parallel_tasks=max_parallel)


def failing_times(times: int, **failure: Any) -> Any:
    seen: dict[str, int] = {}

    def handler(request: AttemptRequest) -> Any:
        seen[request.task_id] = seen.get(request.task_id, 0) + 1
        if seen[request.task_id] <= times:
            return Failure(**failure)
        return f"ok {request.task_id} on attempt {request.attempt}"

    return handler


async def test_retries_with_backoff_sleep_exact_delays(tmp_path: Path) -> None:
    task = {"python": PY, "retries": 3, "retry_delay": "10s", "retry_backoff": 2.0, **NO_JITTER}
    h = harness(tmp_path, {"t": task})
    h.executor.handler = failing_times(3, exit_code=1, error="boom")
    with capture_logs() as events:
        run = await h.run()
    assert run.state is RunState.SUCCESS
    assert h.clock.sleeps == [10, 20, 40]
    attempts = await h.attempts(run.run_id, "t")
    assert [a.outcome for a in attempts] == [Outcome.FAILED] * 3 + [Outcome.SUCCESS]
    assert [a.attempt for a in attempts] == [1, 2, 3, 4]
    record = (await h.tasks(run.run_id))["t"]
    assert (record.attempts, record.output) == (4, "ok t on attempt 4")
    retrying = [e for e in events if e["event"] == logs.TASK_RETRYING]
    assert [(e["attempt"], e["delay_s"]) for e in retrying] == [(1, 10), (2, 20), (3, 40)]
    assert all(e["task_id"] == "t" and e["run_id"] == run.run_id for e in retrying)
    assert h.notifier.kinds().count(EventKind.TASK_RETRYING) == 3


async def test_retries_run_out_and_the_run_fails(tmp_path: Path) -> None:
    h = harness(tmp_path, {"t": {"python": PY, "retries": 1, "retry_delay": "5s", **NO_JITTER}})
    h.executor.handler = failing_times(5, error="always")
    run = await h.run()
    assert run.state is RunState.FAILED
    assert "t" in (run.reason or "")
    record = (await h.tasks(run.run_id))["t"]
    assert (str(record.state), record.attempts, record.reason) == ("failed", 2, "always")
    assert h.clock.sleeps == [5]


@pytest.mark.parametrize(("code", "attempts"), [(75, 3), (1, 1)])
async def test_retry_on_exit_codes(tmp_path: Path, code: int, attempts: int) -> None:
    task = {"python": PY, "retries": 2, "retry_delay": "1s", "retry_on_exit_codes": [75]}
    h = harness(tmp_path, {"t": task})
    h.executor.handler = failing_times(9, exit_code=code)
    run = await h.run()
    assert run.state is RunState.FAILED
    assert len(await h.attempts(run.run_id, "t")) == attempts


async def test_jitter_stays_within_ten_percent(tmp_path: Path) -> None:
    h = harness(tmp_path, {"t": {"python": PY, "retries": 5, "retry_delay": "100s"}})
    h.executor.handler = failing_times(5)
    await h.run()
    assert len(h.clock.sleeps) == 5
    assert all(100 <= s <= 110 for s in h.clock.sleeps)
    assert len(set(h.clock.sleeps)) == 5


async def test_timeout_outcome_is_retried_and_passed_to_the_executor(tmp_path: Path) -> None:
    task = {"python": PY, "retries": 1, "retry_delay": "1s", "timeout": "30s", **NO_JITTER}
    h = harness(tmp_path, {"t": task})

    async def slow_first(request: AttemptRequest) -> str:
        if request.attempt == 1:
            await h.clock.sleep(60)
        return "done"

    h.executor.handler = slow_first
    run = await h.run()
    assert run.state is RunState.SUCCESS
    assert [r.timeout for r in h.executor.requests] == [30.0, 30.0]
    outcomes = [a.outcome for a in await h.attempts(run.run_id, "t")]
    assert outcomes == [Outcome.TIMEOUT, Outcome.SUCCESS]


async def test_allow_failure_lets_the_run_succeed(tmp_path: Path) -> None:
    tasks = {
        "banking": {"python": PY},
        "marketing": {"python": PY, "after": "banking", "allow_failure": True},
        "inventory": {"python": PY, "after": "banking"},
    }
    h = harness(tmp_path, tasks)
    h.executor.handler = lambda r: Failure(error="no") if r.task_id == "marketing" else "ok"
    run = await h.run()
    assert run.state is RunState.SUCCESS
    states = await h.states(run.run_id)
    assert states == {"banking": "success", "marketing": "failed", "inventory": "success"}


async def test_failure_settles_downstream_at_once_and_rules_apply(tmp_path: Path) -> None:
    tasks = {
        "a": {"python": PY},
        "slow": {"python": PY},
        "b": {"python": PY, "after": "a"},
        "c": {"python": PY, "after": "b"},
        "cleanup": {"python": PY, "after": "a", "trigger": "one_failed"},
        "report": {"python": PY, "after": ["b", "slow"], "trigger": "all_done"},
    }
    h = harness(tmp_path, tasks)

    async def handler(request: AttemptRequest) -> Any:
        if request.task_id == "a":
            return Failure(error="a broke")
        if request.task_id == "slow":
            await h.clock.sleep(100)
        return "ok"

    h.executor.handler = handler
    run = await h.run()
    records = await h.tasks(run.run_id)
    assert {t: str(r.state) for t, r in records.items()} == {
        "a": "failed",
        "slow": "success",
        "b": "upstream_failed",
        "c": "upstream_failed",
        "cleanup": "success",
        "report": "success",
    }
    # settled when a failed, not when the run ended (slow ran 100 s longer)
    assert records["c"].ended_at == records["a"].ended_at
    assert records["slow"].ended_at is not None and records["c"].ended_at is not None
    assert (records["slow"].ended_at - records["c"].ended_at).total_seconds() == 100
    assert run.state is RunState.FAILED
    assert "b" not in h.executor.task_ids()


async def test_skipped_propagates(tmp_path: Path) -> None:
    tasks = {
        "a": {"python": PY},
        "only_on_failure": {"python": PY, "after": "a", "trigger": "all_failed"},
        "next": {"python": PY, "after": "only_on_failure"},
        "finally": {"python": PY, "after": "next", "trigger": "none_failed"},
    }
    h = harness(tmp_path, tasks)
    with capture_logs() as events:
        run = await h.run()
    assert await h.states(run.run_id) == {
        "a": "success",
        "only_on_failure": "skipped",
        "next": "skipped",
        "finally": "success",
    }
    assert run.state is RunState.SUCCESS
    assert h.executor.task_ids() == ["a", "finally"]
    skipped = [e["task_id"] for e in events if e["event"] == logs.TASK_SKIPPED]
    assert skipped == ["only_on_failure", "next"]


async def test_race_first_success_cancels_the_rest(tmp_path: Path) -> None:
    tasks = {
        "prepare": {"python": PY},
        "chrome": {"python": PY, "after": "prepare", "race": "booking"},
        "firefox": {"python": PY, "after": "prepare", "race": "booking"},
        "edge": {"python": PY, "after": "prepare", "race": "booking"},
        "notify": {"command": ["notify", "--pnr", "{{ outputs.booking.pnr }}"],
                   "after": ["chrome", "firefox", "edge"]},
        "audit": {"python": PY, "after": ["chrome", "firefox", "edge"]},
    }  # fmt: skip
    h = harness(tmp_path, tasks)
    cancelled: list[str] = []

    async def handler(request: AttemptRequest) -> Any:
        delays = {"chrome": 5, "firefox": 2, "edge": 0}
        if request.task_id == "edge":
            return Failure(error="captcha")
        if request.task_id in delays:
            try:
                await h.clock.sleep(delays[request.task_id])
            except anyio.get_cancelled_exc_class():
                cancelled.append(request.task_id)
                raise
            return {"pnr": f"PNR-{request.task_id}"}
        return dict(request.kwargs.get("outputs", {}))

    h.executor.handler = handler
    run = await h.run()
    assert run.state is RunState.SUCCESS
    records = await h.tasks(run.run_id)
    assert {t: str(r.state) for t, r in records.items() if t in ("chrome", "firefox", "edge")} == {
        "chrome": "cancelled",
        "firefox": "success",
        "edge": "failed",
    }
    assert cancelled == ["chrome"]
    assert "firefox" in (records["chrome"].reason or "")
    chrome = await h.attempts(run.run_id, "chrome")
    assert [a.outcome for a in chrome] == [Outcome.CANCELLED]
    notify = next(r for r in h.executor.requests if r.task_id == "notify")
    assert notify.argv == ("notify", "--pnr", "PNR-firefox")
    assert records["audit"].output["booking"] == {"pnr": "PNR-firefox"}


async def test_race_where_every_member_fails_fails(tmp_path: Path) -> None:
    tasks = {
        "x": {"python": PY, "race": "r"},
        "y": {"python": PY, "race": "r"},
        "after": {"python": PY, "after": ["x", "y"]},
    }
    h = harness(tmp_path, tasks)
    h.executor.handler = lambda r: Failure(error="no")
    run = await h.run()
    assert run.state is RunState.FAILED
    assert await h.states(run.run_id) == {"x": "failed", "y": "failed", "after": "upstream_failed"}


async def test_outputs_flow_to_python_kwargs_and_templates(tmp_path: Path) -> None:
    tasks = {
        "extract": {"python": PY},
        "transform": {"python": PY, "after": "extract", "args": {"label": "{{ params.label }}"}},
        "load": {"shell": "load --rows {{ outputs.transform.rows }} {{ outputs.extract.name }}",
                 "after": "transform"},
    }  # fmt: skip
    h = harness(tmp_path, tasks, params={"label": "daily"})

    def handler(request: AttemptRequest) -> Any:
        if request.task_id == "extract":
            return {"name": "it's"}
        if request.task_id == "transform":
            kwargs = request.kwargs
            assert kwargs["outputs"] == {"extract": {"name": "it's"}}
            assert kwargs["params"] == {"label": "daily"}
            assert kwargs["run"]["run_id"] == request.run.run_id
            return {"rows": 3, "label": kwargs["label"]}
        return None

    h.executor.handler = handler
    run = await h.run()
    assert run.state is RunState.SUCCESS
    records = await h.tasks(run.run_id)
    assert records["transform"].output == {"rows": 3, "label": "daily"}
    load = h.executor.requests[-1]
    assert load.argv == ("/bin/sh", "-c", "load --rows 3 'it'\"'\"'s'")


async def test_attempt_request_paths_and_settings(tmp_path: Path) -> None:
    task = {"python": PY, "timeout": "90s", "kill_grace": "3s", "cwd": "/srv"}
    h = harness(tmp_path, {"t": task})
    run = await h.run()
    request = h.executor.requests[0]
    assert request.log_path == str(tmp_path / "w" / run.run_id / "t.1.log")
    assert (tmp_path / "w" / run.run_id).is_dir()
    assert (request.timeout, request.kill_grace, request.cwd) == (90.0, 3.0, "/srv")


def concurrency_probe(h: EngineHarness, seconds: float = 1.0) -> tuple[Any, dict[str, int]]:
    peak = {"now": 0, "max": 0, "pool_now": 0, "pool_max": 0}

    async def handler(request: AttemptRequest) -> str:
        pooled = request.task.pool is not None
        peak["now"] += 1
        peak["pool_now"] += pooled
        peak["max"] = max(peak["max"], peak["now"])
        peak["pool_max"] = max(peak["pool_max"], peak["pool_now"])
        try:
            await h.clock.sleep(seconds)
        finally:
            peak["now"] -= 1
            peak["pool_now"] -= pooled
        return "ok"

    return handler, peak


async def test_max_parallel_tasks_is_never_exceeded(tmp_path: Path) -> None:
    h = harness(tmp_path, {f"t{i}": {"python": PY} for i in range(20)}, max_parallel_tasks=3)
    h.executor.handler, peak = concurrency_probe(h)
    run = await h.run()
    assert run.state is RunState.SUCCESS
    assert peak["max"] == 3
    assert h.clock.monotonic() == 7.0  # ceil(20 / 3) rounds of one second


async def test_max_active_tasks_is_never_exceeded(tmp_path: Path) -> None:
    tasks = {f"t{i}": {"python": PY} for i in range(9)}
    h = harness(tmp_path, tasks, max_active_tasks=2)
    h.executor.handler, peak = concurrency_probe(h)
    await h.run()
    assert peak["max"] == 2


async def test_pool_slots_are_shared_across_runs(tmp_path: Path) -> None:
    tasks: dict[str, dict[str, Any]] = {f"pay{i}": {"python": PY, "pool": "gw"} for i in range(6)}
    tasks.update({f"free{i}": {"python": PY} for i in range(4)})
    h = harness(tmp_path, tasks, pools={"gw": 2})
    h.executor.handler, peak = concurrency_probe(h)
    first, second = await h.create(), await h.create()
    async with h.clock.autojump(), anyio.create_task_group() as tg:
        tg.start_soon(h.engine.execute, first.run_id)
        tg.start_soon(h.engine.execute, second.run_id)
    assert peak["pool_max"] == 2
    assert peak["max"] > 2  # tasks outside the pool were not held back
    for run_id in (first.run_id, second.run_id):
        assert set((await h.states(run_id)).values()) == {"success"}


async def test_task_events_carry_duration_and_outcome(tmp_path: Path) -> None:
    h = harness(tmp_path, {"t": {"python": PY}})

    async def handler(request: AttemptRequest) -> str:
        await h.clock.sleep(2.5)
        return "ok"

    h.executor.handler = handler
    with capture_logs() as events:
        run = await h.run()
    names = [e["event"] for e in events]
    assert names == [
        logs.RUN_QUEUED,
        logs.RUN_STARTED,
        logs.TASK_STARTED,
        logs.TASK_FINISHED,
        logs.RUN_FINISHED,
    ]
    finished = events[3]
    assert finished["duration_s"] == 2.5
    assert finished["outcome"] == "success"
    assert (finished["workflow"], finished["run_id"], finished["task_id"], finished["attempt"]) == (
        "w",
        run.run_id,
        "t",
        1,
    )
    assert events[-1]["state"] == "success" and events[-1]["duration_s"] == 2.5


@pytest.mark.parametrize("store", ["memory", "sqlite"])
async def test_each_attempt_logs_started_before_finished(tmp_path: Path, store: str) -> None:
    retried = {"python": PY, "retries": 1, "retry_delay": "1s", **NO_JITTER}
    tasks = {"a": retried, **{f"b{i}": {**retried, "after": ["a"]} for i in range(20)}}
    h = harness(tmp_path, tasks)
    h.executor.handler = failing_times(1, error="once")
    if store == "sqlite":
        from tapri_daemon.store.sqlite import SQLiteStore

        h.engine.services = replace(
            h.engine.services, store=await SQLiteStore.connect(tmp_path / "t.db")
        )
    try:
        with capture_logs() as events:
            run = await h.run()
    finally:
        if store == "sqlite":
            await h.engine.services.store.close()  # type: ignore[attr-defined]
    assert run.state is RunState.SUCCESS
    seen: dict[tuple[str, int], list[str]] = {}
    for e in events:
        if e["event"] in (logs.TASK_STARTED, logs.TASK_FINISHED):
            seen.setdefault((e["task_id"], e["attempt"]), []).append(e["event"])
    assert len(seen) == 42  # two attempts each
    assert all(order == ["task.started", "task.finished"] for order in seen.values())


class _PlainStore:
    """A Store with only the protocol's methods (no ``submit``): the engine's fallback."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        if name == "submit":
            raise AttributeError(name)
        return getattr(self._inner, name)


async def test_a_store_without_submit_works_through_the_protocol(tmp_path: Path) -> None:
    from tapri_daemon.engine.live import Batching

    tasks = {"a": {"python": PY}, **{f"b{i}": {"python": PY, "after": ["a"]} for i in range(5)}}
    h = harness(tmp_path, tasks)
    plain = _PlainStore(h.store)
    assert not isinstance(plain, Batching)
    h.engine.services = replace(h.engine.services, store=plain)
    with capture_logs() as events:
        run = await h.run()
    assert run.state is RunState.SUCCESS
    assert set((await h.states(run.run_id)).values()) == {"success"}
    for task_id in tasks:
        assert len(await h.attempts(run.run_id, task_id)) == 1
    started = [e["task_id"] for e in events if e["event"] == logs.TASK_STARTED]
    assert sorted(started) == sorted(tasks)
