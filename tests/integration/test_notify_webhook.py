"""Notifications sent for real through apprise to JSON webhooks served on loopback."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
from structlog.testing import capture_logs

from tapri_daemon import logs
from tapri_daemon.clocks import SystemClock
from tapri_daemon.engine import Engine, EngineConfig
from tapri_daemon.interfaces import AttemptRequest, Event, EventKind, Trigger
from tapri_daemon.model import Definitions
from tapri_daemon.notify import Router
from tapri_daemon.testing import EngineHarness, Failure

AT = datetime(2025, 1, 6, 9, 30, 3, tzinfo=UTC)  # 15:00:03 IST


@dataclass
class Webhook:
    """An HTTP server on loopback that records JSON posts (path, payload)."""

    port: int = 0
    status: int = 200
    posts: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def url(self, path: str) -> str:
        return f"json://127.0.0.1:{self.port}{path}"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
        path = head.split(" ", 2)[1]
        length = next(
            int(line.split(":", 1)[1])
            for line in head.split("\r\n")
            if line.lower().startswith("content-length:")
        )
        self.posts.append((path, json.loads((await reader.readexactly(length)).decode())))
        self.arrived.set()
        writer.write(f"HTTP/1.1 {self.status} X\r\nContent-Length: 0\r\n\r\n".encode())
        await writer.drain()
        writer.close()


@dataclass
class Silent:
    """Accepts connections and never answers."""

    port: int = 0
    connected: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connected.set()
        await reader.read()  # until the client gives up and closes
        writer.close()


@asynccontextmanager
async def serving(server: Webhook | Silent) -> AsyncIterator[Any]:
    listener = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    server.port = listener.sockets[0].getsockname()[1]
    async with listener:
        yield server
        listener.close()


@asynccontextmanager
async def running(router: Router) -> AsyncIterator[Router]:
    async with AsyncExitStack() as stack:
        await router.start(stack)
        yield router


def definitions(notifiers: dict[str, dict[str, Any]], **routes: list[str]) -> Definitions:
    return Definitions.model_validate(
        {
            "notifier": notifiers,
            "workflow": {
                "gst_filing": {
                    "timezone": "Asia/Kolkata",
                    "notify": routes,
                    "task": {"upload": {"command": "true"}},
                }
            },
        }
    )


def failed(run_id: str = "gst-20250106") -> Event:
    return Event(
        kind=EventKind.RUN_FAILED,
        workflow="gst_filing",
        at=AT,
        run_id=run_id,
        reason="task upload failed (exit 2)",
        details={"failed_tasks": ["upload"], "log_tail": {"upload": "ERROR: GSTN 503"}},
    )


async def test_english_and_hindi_messages_arrive_intact() -> None:
    async with serving(Webhook()) as hook:
        defs = definitions(
            {
                "ops": {"urls": [hook.url("/ops")], "language": "en"},
                "lead": {"urls": [hook.url("/lead")], "language": "hi"},
            },
            on_failure=["ops", "lead"],
        )
        router = Router(defs, clock=SystemClock())
        with capture_logs() as captured:
            async with running(router):
                await router.notify(failed())
                await router.wait_idle()
    posts = dict(hook.posts)
    assert set(posts) == {"/ops", "/lead"}
    assert posts["/ops"]["title"] == "tapri: gst_filing failed"
    assert posts["/ops"]["type"] == "failure"
    assert "failed at 15:00:03 IST" in posts["/ops"]["message"]
    assert "tapri logs gst-20250106 upload" in posts["/ops"]["message"]
    assert posts["/lead"]["title"] == "tapri: gst_filing विफल हुआ"
    assert "gst_filing का रन gst-20250106 15:00:03 IST पर विफल हो गया।" in posts["/lead"]["message"]
    assert "ERROR: GSTN 503" in posts["/lead"]["message"]
    sent = [e for e in captured if e["event"] == logs.NOTIFY_SENT]
    assert sorted(e["notifier"] for e in sent) == ["lead", "ops"]


async def test_a_notifier_that_never_answers_delays_neither_notify_nor_others() -> None:
    async with serving(Silent()) as silent, serving(Webhook()) as hook:
        defs = definitions(
            {
                "slow": {
                    "urls": [f"json://127.0.0.1:{silent.port}/x"],
                    "timeout": "1s",
                    "retries": 0,
                },
                "ops": {"urls": [hook.url("/ops")]},
            },
            on_failure=["slow", "ops"],
        )
        router = Router(defs, clock=SystemClock())
        with capture_logs() as captured:
            async with running(router):
                await router.notify(failed())
                # notify() only queued the event: nothing has been sent anywhere yet
                assert not silent.connected.is_set() and hook.posts == []
                with anyio.fail_after(10):
                    await hook.arrived.wait()
                    await silent.connected.wait()
                # ops was delivered while slow is still waiting for its answer
                outcomes = {e["notifier"] for e in captured if e["event"].startswith("notify.")}
                assert "slow" not in outcomes
                with anyio.fail_after(10):
                    await router.wait_idle()
    [failure] = [e for e in captured if e["event"] == logs.NOTIFY_FAILED]
    assert failure["notifier"] == "slow"
    assert failure["tries"] == 1
    assert [path for path, _ in hook.posts] == ["/ops"]


async def test_secrets_in_the_url_reach_the_server_but_never_the_logs(
    tmp_path: Path, caplog: Any
) -> None:
    (tmp_path / "HOOK_TOKEN").write_text("xK9-very-secret\n")
    async with serving(Webhook(status=500)) as hook:
        defs = definitions(
            {"ops": {"urls": [hook.url("/hook/${cred:HOOK_TOKEN}")], "retries": 1}},
            on_failure=["ops"],
        )
        router = Router(defs, clock=SystemClock(), credentials_dir=tmp_path, backoff_s=0.01)
        with capture_logs() as captured:
            async with running(router):
                await router.notify(failed())
                await router.wait_idle()
    assert [path for path, _ in hook.posts] == ["/hook/xK9-very-secret"] * 2
    [failure] = [e for e in captured if e["event"] == logs.NOTIFY_FAILED]
    assert failure["notifier"] == "ops" and failure["tries"] == 2
    assert "xK9-very-secret" not in repr(captured)
    assert "xK9-very-secret" not in caplog.text


async def test_a_notifier_template_overrides_the_message() -> None:
    async with serving(Webhook()) as hook:
        template = "{{ workflow }} {{ run_id }}: {{ failed_tasks | join(', ') }} ({{ time }})"
        defs = definitions(
            {"ops": {"urls": [hook.url("/ops")], "template": template, "title": "GST {{ kind }}"}},
            on_failure=["ops"],
        )
        router = Router(defs, clock=SystemClock())
        async with running(router):
            await router.notify(failed())
            await router.wait_idle()
    [(_, payload)] = hook.posts
    assert payload["title"] == "GST run_failed"
    assert payload["message"] == "gst_filing gst-20250106: upload (15:00:03 IST)"


async def test_repeats_fold_into_one_summary_when_the_window_closes() -> None:
    async with serving(Webhook()) as hook:
        defs = definitions(
            {"ops": {"urls": [hook.url("/ops")], "min_interval": "1s", "language": "hinglish"}},
            on_failure=["ops"],
        )
        router = Router(defs, clock=SystemClock())
        async with running(router):
            for n in range(4):
                await router.notify(failed(f"gst-{n}"))
            await router.wait_idle()
            assert len(hook.posts) == 1
            with anyio.fail_after(10):
                while len(hook.posts) < 2:
                    await anyio.sleep(0.05)
    first, summary = (payload for _, payload in hook.posts)
    assert "gst-0" in first["message"]
    assert summary["title"].startswith("[+3] ")
    assert summary["message"].startswith("Pichhle 1s mein aise 3 aur messages")
    assert "gst-3" in summary["message"]


async def test_a_run_failed_by_the_real_engine_reaches_the_webhook_with_its_log_tail(
    tmp_path: Path,
) -> None:
    def upload(request: AttemptRequest) -> Failure:
        Path(request.log_path).parent.mkdir(parents=True, exist_ok=True)
        Path(request.log_path).write_text("connecting to GSTN\nERROR: GSTN portal returned 503\n")
        return Failure(exit_code=2, error="exit status 2")

    async with serving(Webhook()) as hook:
        defs = Definitions.model_validate(
            {
                "notifier": {"business": {"urls": [hook.url("/biz")], "language": "hi"}},
                "workflow": {
                    "gst_filing": {
                        "timezone": "Asia/Kolkata",
                        "task": {
                            "upload": {
                                "python": "gst:upload",
                                "notify": {"on_failure": ["business"]},
                            }
                        },
                    }
                },
            }
        )
        harness = EngineHarness(defs, upload, log_dir=tmp_path)
        router = Router(defs, clock=SystemClock())
        engine = Engine(
            config=EngineConfig(log_dir=tmp_path),
            store=harness.store,
            executor=harness.executor,
            clock=harness.clock,
            notifier=router,
            definitions=defs,
        )
        async with running(router):
            record = await engine.create_run(
                "gst_filing", logical_date=harness.clock.now(), trigger=Trigger.MANUAL
            )
            async with harness.clock.autojump():
                run = await engine.execute(record.run_id)
            with anyio.fail_after(10):
                await router.wait_idle()
    assert str(run.state) == "failed"
    [(path, payload)] = hook.posts
    assert path == "/biz"
    assert payload["title"] == "tapri: gst_filing विफल हुआ"
    message = payload["message"]
    assert f"gst_filing का रन {run.run_id}" in message
    assert "15:00:00 IST" in message  # the harness clock starts at 09:30 UTC
    assert "विफल टास्क: upload" in message
    assert "ERROR: GSTN portal returned 503" in message
    assert f"tapri logs {run.run_id} upload" in message


async def test_a_url_apprise_does_not_know_is_a_logged_failure() -> None:
    defs = definitions({"ops": {"urls": ["nosuchscheme://x/y"], "retries": 0}}, on_failure=["ops"])
    router = Router(defs, clock=SystemClock())
    with capture_logs() as captured:
        async with running(router):
            await router.notify(failed())
            await router.wait_idle()
    [failure] = [e for e in captured if e["event"] == logs.NOTIFY_FAILED]
    assert failure["reason"] == "URL #1 is not a URL apprise understands"
