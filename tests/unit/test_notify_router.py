"""Router: queueing, routing, folding on a fake clock, retries, secrets, draining."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import anyio
from structlog.testing import capture_logs

from tapri_daemon import logs
from tapri_daemon.errors import NotifyError
from tapri_daemon.interfaces import Event, EventKind
from tapri_daemon.model import Definitions
from tapri_daemon.notify import Message, Router
from tapri_daemon.testing import FakeClock

T0 = datetime(2025, 1, 6, 9, 30, tzinfo=UTC)


class RecordingSender:
    """Records deliveries; can fail a notifier N times or hold deliveries until released."""

    def __init__(self, failures: dict[str, int] | None = None) -> None:
        self.sent: list[tuple[str, list[str], Message]] = []
        self.tries: list[str] = []
        self.failures = dict(failures or {})
        self.gate: anyio.Event | None = None

    async def send(
        self, name: str, urls: Sequence[str], message: Message, *, time_limit: float
    ) -> None:
        self.tries.append(name)
        if self.gate is not None:
            await self.gate.wait()
        if self.failures.get(name, 0) > 0:
            self.failures[name] -= 1
            raise NotifyError(name, f"server refused {urls[0]}")
        self.sent.append((name, list(urls), message))

    def names(self) -> list[str]:
        return sorted(name for name, _, _ in self.sent)


def definitions(**ops: Any) -> Definitions:
    return Definitions.model_validate(
        {
            "notifier": {
                "ops": {"urls": ["json://127.0.0.1/ops"], **ops},
                "lead": {"urls": ["json://127.0.0.1/lead"], "language": "hi"},
            },
            "workflow": {
                "rbi": {
                    "timezone": "Asia/Kolkata",
                    "notify": {"on_failure": ["ops"], "on_retry": ["ops"]},
                    "task": {
                        "upload": {"command": "true", "notify": {"on_retry": ["lead"]}},
                    },
                }
            },
        }
    )


def failed(n: int = 0) -> Event:
    return Event(kind=EventKind.RUN_FAILED, workflow="rbi", at=T0, run_id=f"r{n}")


@asynccontextmanager
async def running(router: Router) -> AsyncIterator[Router]:
    async with AsyncExitStack() as stack:
        await router.start(stack)
        yield router


async def test_notify_returns_before_delivery_and_delivery_follows() -> None:
    sender = RecordingSender()
    sender.gate = anyio.Event()
    router = Router(definitions(), clock=FakeClock(T0), sender=sender)
    async with running(router):
        await router.notify(failed())
        assert sender.sent == []  # notify only queued it
        sender.gate.set()
        await router.wait_idle()
    assert sender.names() == ["ops"]


async def test_task_routes_add_to_workflow_routes_and_each_gets_its_language() -> None:
    sender = RecordingSender()
    router = Router(definitions(), clock=FakeClock(T0), sender=sender)
    retry = Event(
        kind=EventKind.TASK_RETRYING,
        workflow="rbi",
        at=T0,
        run_id="r1",
        task_id="upload",
        attempt=1,
    )
    async with running(router):
        await router.notify(retry)
        await router.wait_idle()
    by_name = {name: message for name, _, message in sender.sent}
    assert set(by_name) == {"ops", "lead"}
    assert "15:00:00 IST" in by_name["ops"].body
    assert "प्रयास 1" in by_name["lead"].body


async def test_repeats_inside_min_interval_fold_into_one_summary() -> None:
    clock = FakeClock(T0)
    sender = RecordingSender()
    router = Router(definitions(min_interval="10m"), clock=clock, sender=sender)
    with capture_logs() as captured:
        async with running(router):
            for n in range(4):
                await router.notify(failed(n))
            await router.wait_idle()
            assert [m.run_id for _, _, m in sender.sent] == ["r0"]
            clock.advance(600)
            await clock.run_until_idle()
            await router.wait_idle()
    summary = sender.sent[1][2]
    assert (summary.folded, summary.run_id) == (3, "r3")
    assert "3 more like this in the last 10m" in summary.body
    folded = [e for e in captured if e["event"] == logs.NOTIFY_FOLDED]
    assert [e["held"] for e in folded] == [1, 2, 3]
    assert {e["notifier"] for e in folded} == {"ops"}


async def test_a_failing_notifier_is_retried_with_backoff_on_the_clock() -> None:
    clock = FakeClock(T0)
    sender = RecordingSender(failures={"ops": 2})
    router = Router(definitions(retries=2), clock=clock, sender=sender)
    with capture_logs() as captured:
        async with clock.autojump(), running(router):
            await router.notify(failed())
            await router.wait_idle()
    assert sender.tries == ["ops", "ops", "ops"]
    assert clock.sleeps[:2] == [1.0, 2.0]
    [sent] = [e for e in captured if e["event"] == logs.NOTIFY_SENT]
    assert (sent["notifier"], sent["tries"], sent["kind"]) == ("ops", 3, "run_failed")


async def test_a_final_failure_is_logged_with_secrets_masked() -> None:
    clock = FakeClock(T0)
    sender = RecordingSender(failures={"ops": 5})
    defs = definitions(urls=["json://127.0.0.1/hook/${env:OPS_TOKEN}"], retries=1)
    router = Router(defs, clock=clock, sender=sender, environ={"OPS_TOKEN": "t0k3n-s3cret"})
    with capture_logs() as captured:
        async with clock.autojump(), running(router):
            await router.notify(failed())
            await router.wait_idle()
    assert sender.tries == ["ops", "ops"]
    [failure] = [e for e in captured if e["event"] == logs.NOTIFY_FAILED]
    assert failure["notifier"] == "ops"
    assert (failure["workflow"], failure["run_id"], failure["kind"]) == ("rbi", "r0", "run_failed")
    assert "json://127.0.0.1/hook/***" in failure["reason"]
    assert "t0k3n-s3cret" not in repr(captured)


async def test_secrets_expand_at_send_time() -> None:
    environ = {"OPS_TOKEN": "first"}
    sender = RecordingSender()
    defs = definitions(urls=["json://127.0.0.1/hook/${env:OPS_TOKEN}"])
    router = Router(defs, clock=FakeClock(T0), sender=sender, environ=environ)
    async with running(router):
        await router.notify(failed(1))
        await router.wait_idle()
        environ["OPS_TOKEN"] = "rotated"
        await router.notify(failed(2))
        await router.wait_idle()
    assert [urls for _, urls, _ in sender.sent] == [
        ["json://127.0.0.1/hook/first"],
        ["json://127.0.0.1/hook/rotated"],
    ]


async def test_shutdown_sends_held_summaries() -> None:
    sender = RecordingSender()
    router = Router(definitions(min_interval="1h"), clock=FakeClock(T0), sender=sender)
    async with running(router):
        for n in range(3):
            await router.notify(failed(n))
    assert [m.folded for _, _, m in sender.sent] == [0, 2]


async def test_shutdown_waits_a_bounded_time_for_a_stuck_delivery() -> None:
    sender = RecordingSender()
    sender.gate = anyio.Event()  # never set: the delivery hangs
    router = Router(definitions(), clock=FakeClock(T0), sender=sender, drain_timeout=0.2)
    with capture_logs() as captured, anyio.fail_after(5):
        async with running(router):
            await router.notify(failed())
            await anyio.sleep(0.05)
    reasons = [e["reason"] for e in captured if e["event"] == logs.NOTIFY_FAILED]
    assert reasons == ["stopped before the delivery finished"]


async def test_use_switches_routes_after_a_reload_and_unknown_names_are_logged() -> None:
    sender = RecordingSender()
    router = Router(definitions(), clock=FakeClock(T0), sender=sender)
    reloaded = Definitions.model_validate(
        {
            "workflow": {
                "rbi": {"notify": {"on_failure": ["gone"]}, "task": {"a": {"command": "true"}}}
            }
        }
    )
    with capture_logs() as captured:
        async with running(router):
            router.use(reloaded)
            await router.notify(failed())
            await router.wait_idle()
    assert sender.sent == []
    [failure] = [e for e in captured if e["event"] == logs.NOTIFY_FAILED]
    assert (failure["notifier"], failure["reason"]) == ("gone", "no such notifier")


async def test_notify_after_stop_never_raises() -> None:
    router = Router(definitions(), clock=FakeClock(T0), sender=RecordingSender())
    async with running(router):
        pass
    with capture_logs() as captured:
        await router.notify(failed())
    assert captured[0]["reason"] == "the notifier router has stopped"
