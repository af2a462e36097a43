"""Resume after a lost attempt, retry of a failed run, params, secrets, notifications."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import timedelta
from pathlib import Path
from typing import Any

import anyio
import pytest
from structlog.testing import capture_logs

from tapri_daemon.engine.params import UnknownParamError
from tapri_daemon.errors import NotFoundError, TapriError
from tapri_daemon.interfaces import (
    AttemptRecord,
    AttemptRequest,
    EventKind,
    Outcome,
    RunState,
    TaskRecord,
    TaskState,
)
from tapri_daemon.testing import EngineHarness, Failure, definitions_of

PY = "m:f"
CHAIN = {
    "a": {"python": PY},
    "b": {"python": PY, "after": "a", "retries": 1, "retry_delay": "7s", "retry_jitter": False},
    "c": {"python": PY, "after": "b"},
}


def harness(tmp_path: Path, tasks: dict[str, dict[str, Any]], **kw: Any) -> EngineHarness:
    return EngineHarness(definitions_of(tasks, **kw), log_dir=tmp_path)


def echo(request: AttemptRequest) -> Any:
    return {"task": request.task_id, "attempt": request.attempt, "seen": request.kwargs["outputs"]}


async def test_resume_keeps_finished_tasks_and_retries_the_lost_attempt(tmp_path: Path) -> None:
    h = harness(tmp_path, CHAIN)
    h.executor.handler = echo
    record = await h.create()
    run_id = record.run_id
    started = record.queued_at
    await h.store.save_run(asdict_replace(record, state=RunState.RUNNING, started_at=started))
    await h.store.save_task(
        TaskRecord(run_id=run_id, task_id="a", state=TaskState.SUCCESS, attempts=1,
                   output={"rows": 7}, started_at=started, ended_at=started)
    )  # fmt: skip
    await h.store.save_task(
        TaskRecord(run_id=run_id, task_id="b", state=TaskState.RUNNING, attempts=1,
                   started_at=started)
    )  # fmt: skip
    await h.store.save_attempt(
        AttemptRecord(run_id=run_id, task_id="b", attempt=1, outcome=Outcome.LOST,
                      started_at=started, ended_at=started, error="daemon died")
    )  # fmt: skip
    async with h.clock.autojump():
        run = await h.engine.execute(run_id)
    assert run.state is RunState.SUCCESS
    assert h.executor.task_ids() == ["b", "c"]  # a was not run again
    assert h.clock.sleeps == [7]  # the retry delay of the policy
    b = await h.attempts(run_id, "b")
    assert [(x.attempt, x.outcome) for x in b] == [(1, Outcome.LOST), (2, Outcome.SUCCESS)]
    records = await h.tasks(run_id)
    assert records["a"].output == {"rows": 7}
    assert records["b"].output["seen"] == {"a": {"rows": 7}}
    assert records["c"].output["seen"]["a"] == {"rows": 7}


async def test_resume_gives_up_when_the_lost_attempt_was_the_last(tmp_path: Path) -> None:
    h = harness(tmp_path, {"t": {"python": PY, "retries": 0}})
    record = await h.create()
    await h.store.save_task(
        TaskRecord(run_id=record.run_id, task_id="t", state=TaskState.RUNNING, attempts=1)
    )
    await h.store.save_attempt(
        AttemptRecord(run_id=record.run_id, task_id="t", attempt=1, outcome=None,
                      started_at=record.queued_at)
    )  # fmt: skip
    async with h.clock.autojump():
        run = await h.engine.execute(record.run_id)
    assert run.state is RunState.FAILED
    assert h.executor.requests == []
    (attempt,) = await h.attempts(record.run_id, "t")
    assert attempt.outcome is Outcome.LOST  # an attempt left running is marked lost


async def test_retry_a_failed_run_reuses_upstream_outputs(tmp_path: Path) -> None:
    h = harness(tmp_path, {**CHAIN, "b": {"python": PY, "after": "a"}})
    h.executor.handler = lambda r: Failure(error="down") if r.task_id == "b" else echo(r)
    first = await h.run()
    assert first.state is RunState.FAILED
    assert await h.states(first.run_id) == {"a": "success", "b": "failed", "c": "upstream_failed"}
    h.executor.handler = echo
    h.executor.requests.clear()
    async with h.clock.autojump():
        again = await h.engine.retry(first.run_id)
    assert again.state is RunState.SUCCESS
    assert h.executor.task_ids() == ["b", "c"]
    b = await h.attempts(first.run_id, "b")
    assert [(x.attempt, x.outcome) for x in b] == [(1, Outcome.FAILED), (2, Outcome.SUCCESS)]
    assert (await h.tasks(first.run_id))["b"].output["seen"] == {
        "a": {"task": "a", "attempt": 1, "seen": {}}
    }
    assert EventKind.RUN_RECOVERED in h.notifier.kinds()


async def test_retry_one_task_and_its_downstream(tmp_path: Path) -> None:
    h = harness(tmp_path, CHAIN)
    h.executor.handler = echo
    first = await h.run()
    h.executor.requests.clear()
    async with h.clock.autojump():
        with pytest.raises(TapriError, match=r"nothing|no failed"):
            await h.engine.retry(first.run_id)
        again = await h.engine.retry(first.run_id, task="b", downstream=True)
    assert again.state is RunState.SUCCESS
    assert h.executor.task_ids() == ["b", "c"]
    assert [r.attempt for r in h.executor.requests] == [2, 2]
    with pytest.raises(NotFoundError, match='did you mean "b"'):
        await h.engine.retry(first.run_id, task="bb")


async def test_params_are_validated_and_overridden(tmp_path: Path) -> None:
    h = harness(tmp_path, {"t": {"python": PY}}, params={"threshold": 1000, "mode": "full"})
    h.executor.handler = lambda r: r.kwargs["params"]
    with pytest.raises(
        UnknownParamError, match=r'no param "threshhold" \(did you mean "threshold"'
    ):
        await h.create(params={"threshhold": 5})
    run = await h.run(params={"threshold": 5})
    assert run.params == {"threshold": 5, "mode": "full"}
    assert (await h.tasks(run.run_id))["t"].output == {"threshold": 5, "mode": "full"}


async def test_unknown_workflow_and_run(tmp_path: Path) -> None:
    h = harness(tmp_path, {"t": {"python": PY}})
    with pytest.raises(NotFoundError, match="workflow"):
        await h.create("nope")
    with pytest.raises(NotFoundError, match="run"):
        await h.engine.execute("nope__x")


SECRET = "hunter2-very-secret"


async def test_secrets_never_reach_store_logs_or_events(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TAPRI_TEST_TOKEN", SECRET)
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "db").write_text("cred-" + SECRET)
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
    env = {"TOKEN": "${env:TAPRI_TEST_TOKEN}", "DSN": "db://u:${cred:db}@h/{{ ds }}"}
    tasks = {"leak": {"python": PY, "env": env}, "echo": {"python": PY, "env": env}}
    h = harness(tmp_path, tasks)

    def handler(request: AttemptRequest) -> Any:
        assert request.env["TOKEN"] == SECRET
        assert request.env["DSN"] == f"db://u:cred-{SECRET}@h/2026-01-05"
        assert set(request.secrets) == {SECRET, "cred-" + SECRET}
        if request.task_id == "leak":
            raise RuntimeError(f"auth failed with {request.env['TOKEN']}")
        return {"dsn": request.env["DSN"]}

    h.executor.handler = handler
    with capture_logs() as events:
        run = await h.run()
    assert run.state is RunState.FAILED
    dumped = json.dumps(
        [
            events,
            [asdict(t) for t in await h.store.get_tasks(run.run_id)],
            [asdict(a) for a in await h.store.get_attempts(run.run_id)],
            [asdict(e) for e in h.notifier.events],
            asdict(run),
        ],
        default=str,
    )
    assert SECRET not in dumped
    assert "auth failed with ***" in dumped
    assert (await h.tasks(run.run_id))["echo"].output == {"dsn": "db://u:***@h/2026-01-05"}


async def test_a_missing_secret_fails_the_task_with_a_clear_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TAPRI_NOT_SET", raising=False)
    h = harness(tmp_path, {"t": {"python": PY, "env": {"X": "${env:TAPRI_NOT_SET}"}}})
    run = await h.run()
    assert run.state is RunState.FAILED
    record = (await h.tasks(run.run_id))["t"]
    assert record.reason == "${env:TAPRI_NOT_SET}: not set in the daemon's environment"
    assert h.executor.requests == []


async def test_run_failed_event_carries_failed_tasks_and_log_tails(tmp_path: Path) -> None:
    h = harness(tmp_path, {"ok": {"python": PY}, "bad": {"python": PY}})

    def handler(request: AttemptRequest) -> Any:
        lines = [f"line {i}" for i in range(30)]
        Path(request.log_path).write_text("\n".join(lines) + "\n")
        return Failure(error="exit 3", exit_code=3) if request.task_id == "bad" else "fine"

    h.executor.handler = handler
    run = await h.run()
    (event,) = h.notifier.of(EventKind.RUN_FAILED)
    assert event.run_id == run.run_id and event.workflow == "w"
    assert event.details["failed_tasks"] == ["bad"]
    tail = event.details["log_tail"]["bad"].splitlines()
    assert tail == [f"line {i}" for i in range(10, 30)]


async def test_recovered_after_a_failed_run(tmp_path: Path) -> None:
    h = harness(tmp_path, {"t": {"python": PY}})
    h.executor.handler = lambda r: Failure(error="x")
    assert (await h.run()).state is RunState.FAILED
    h.clock.advance(60)
    h.executor.handler = lambda r: "ok"
    assert (await h.run()).state is RunState.SUCCESS
    h.clock.advance(60)
    assert (await h.run()).state is RunState.SUCCESS
    kinds = h.notifier.kinds()
    assert kinds == [
        EventKind.RUN_FAILED,
        EventKind.RUN_SUCCEEDED,
        EventKind.RUN_RECOVERED,
        EventKind.RUN_SUCCEEDED,
    ]


async def test_template_errors_fail_the_task(tmp_path: Path) -> None:
    h = harness(tmp_path, {"t": {"command": ["echo", "{{ params.nope }}"]}})
    run = await h.run()
    assert run.state is RunState.FAILED
    reason = (await h.tasks(run.run_id))["t"].reason or ""
    assert "nope" in reason


async def test_reload_keeps_running_definitions(tmp_path: Path) -> None:
    h = harness(tmp_path, {"t": {"python": PY}})
    h.engine.use(definitions_of({"t": {"python": PY}, "u": {"python": PY, "after": "t"}}))
    run = await h.run()
    assert await h.states(run.run_id) == {"t": "success", "u": "success"}
    assert run.ended_at is not None and run.ended_at - run.logical_date == timedelta(0)


def asdict_replace(record: Any, **changes: Any) -> Any:
    from dataclasses import replace

    return replace(record, **changes)


async def test_cancelled_from_outside_the_run_stays_resumable(tmp_path: Path) -> None:
    tasks = {"a": {"python": PY}, "b": {"python": PY, "after": "a", "retries": 1,
                                         "retry_delay": "3s", "retry_jitter": False}}  # fmt: skip
    h = harness(tmp_path, tasks)

    async def handler(request: AttemptRequest) -> Any:
        if request.task_id == "b" and request.attempt == 1:
            await h.clock.sleep(3600)
        return request.task_id

    h.executor.handler = handler
    record = await h.create()
    async with anyio.create_task_group() as tg:
        tg.start_soon(h.engine.execute, record.run_id)
        await h.clock.run_until_idle()
        assert h.executor.running == 1
        tg.cancel_scope.cancel()  # the daemon went away, not engine.cancel()
    stored = await h.store.get_run(record.run_id)
    assert stored is not None and stored.state is RunState.RUNNING
    assert [a.outcome for a in await h.attempts(record.run_id, "b")] == [Outcome.LOST]
    assert h.engine.running() == []
    async with h.clock.autojump():
        run = await h.engine.execute(record.run_id)
    assert run.state is RunState.SUCCESS
    assert [a.outcome for a in await h.attempts(record.run_id, "b")] == [
        Outcome.LOST,
        Outcome.SUCCESS,
    ]
    assert h.executor.task_ids() == ["a", "b", "b"]
