"""The http executor through httpx.MockTransport: statuses, bodies, limits, timeouts."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import httpx

from tapri_daemon.executors import Dispatcher
from tapri_daemon.interfaces import AttemptRequest, AttemptResult, Outcome, RunInfo, Trigger
from tapri_daemon.model import HttpRequest, Task
from tapri_daemon.testing import FakeClock, NullObserver

START = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)


def request_for(tmp_path: Path, http: dict[str, Any], **fields: Any) -> AttemptRequest:
    run = RunInfo(
        run_id="r1", workflow="wf", logical_date=START, data_interval_start=START,
        data_interval_end=START, trigger=Trigger.MANUAL, attempt=1, timezone="UTC",
    )  # fmt: skip
    task = Task(http=HttpRequest(url=http["url"]))
    return AttemptRequest(
        task_id="call", task=task, run=run, attempt=1, http=http,
        log_path=str(tmp_path / "call.1.log"), **fields,
    )  # fmt: skip


async def call(handler: Any, request: AttemptRequest) -> AttemptResult:
    async with Dispatcher(http_transport=httpx.MockTransport(handler)) as dispatcher:
        return await dispatcher.execute(request, NullObserver())


async def test_json_body_is_the_output_and_the_request_is_sent_as_given(tmp_path: Path) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201, json={"ok": True, "id": 7})

    spec = {
        "url": "https://api.example/items",
        "method": "POST",
        "headers": {"Authorization": "Bearer tok3n"},
        "params": {"q": "x y"},
        "json": {"name": "Asha"},
        "expect_status": [],
    }
    result = await call(handler, request_for(tmp_path, spec, secrets=("tok3n",)))
    assert (result.outcome, result.output) == (Outcome.SUCCESS, {"ok": True, "id": 7})
    sent = seen[0]
    assert sent.method == "POST" and sent.url.params["q"] == "x y"
    assert sent.headers["authorization"] == "Bearer tok3n"
    assert json.loads(sent.content) == {"name": "Asha"}
    log = (tmp_path / "call.1.log").read_text()
    assert "-> 201" in log and "tok3n" not in log


async def test_text_bodies_and_empty_bodies(tmp_path: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/empty":
            return httpx.Response(204)
        return httpx.Response(200, text="plain words", headers={"content-type": "text/plain"})

    text = await call(handler, request_for(tmp_path, {"url": "https://h/text"}))
    assert text.output == "plain words"
    empty = await call(handler, request_for(tmp_path, {"url": "https://h/empty"}))
    assert (empty.outcome, empty.output) == (Outcome.SUCCESS, None)


async def test_an_unexpected_status_fails_with_the_start_of_the_body(tmp_path: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(503, text="down for maintenance " + "z" * 2000)

    result = await call(handler, request_for(tmp_path, {"url": "https://h/x"}))
    assert result.outcome is Outcome.FAILED
    error = result.error or ""
    assert error.startswith("HTTP 503 from https://h/x: down for maintenance")
    assert len(error) < 600


async def test_expect_status_accepts_exactly_the_listed_ones(tmp_path: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404, json={"missing": True})

    ok = await call(handler, request_for(tmp_path, {"url": "https://h/", "expect_status": [404]}))
    assert (ok.outcome, ok.output) == (Outcome.SUCCESS, {"missing": True})
    spec = {"url": "https://h/", "expect_status": [404]}

    def created(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200)

    assert (await call(created, request_for(tmp_path, spec))).outcome is Outcome.FAILED


async def test_a_body_over_the_limit_fails(tmp_path: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"x" * 5000)

    result = await call(handler, request_for(tmp_path, {"url": "https://h/"}, output_limit=100))
    assert result.outcome is Outcome.FAILED
    assert "over the output limit of 100 bytes" in (result.error or "")


async def test_a_slow_server_times_out(tmp_path: Path) -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        await anyio.sleep(30)
        return httpx.Response(200)

    result = await call(handler, request_for(tmp_path, {"url": "https://h/"}, timeout=0.2))
    assert result.outcome is Outcome.TIMEOUT
    assert result.error == "timed out after 0.2 s"


async def test_transport_errors_fail_without_raising(tmp_path: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    result = await call(handler, request_for(tmp_path, {"url": "https://h/"}))
    assert result.outcome is Outcome.FAILED
    assert result.error == "ConnectError: connection refused"


async def test_a_precise_request_is_built_before_and_sent_at_the_instant(tmp_path: Path) -> None:
    clock = FakeClock(START)
    fire_ns = clock.time_ns() + 5_000_000_000
    sent_at: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent_at.append(clock.time_ns())
        return httpx.Response(200, json=1)

    transport = httpx.MockTransport(handler)
    request = request_for(tmp_path, {"url": "https://api.example/book"}, fire_at_ns=fire_ns)
    async with Dispatcher(http_transport=transport, clock=clock) as dispatcher, clock.autojump():
        result = await dispatcher.execute(request, NullObserver())
    assert (result.outcome, result.output) == (Outcome.SUCCESS, 1)
    assert sent_at == [fire_ns] and clock.waits == [START + timedelta(seconds=5)]
    assert result.released_ns is not None and result.released_ns == result.started_ns
