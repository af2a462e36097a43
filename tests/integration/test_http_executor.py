"""The http executor against a real http.server on 127.0.0.1 (a thread in the test)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tapri_daemon.executors import Dispatcher
from tapri_daemon.interfaces import AttemptRequest, Outcome, RunInfo, Trigger
from tapri_daemon.model import HttpRequest, Task
from tapri_daemon.testing import NullObserver

START = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)
RUN = RunInfo(
    run_id="r1", workflow="wf", logical_date=START, data_interval_start=START,
    data_interval_end=START, trigger=Trigger.MANUAL, attempt=1, timezone="UTC",
)  # fmt: skip


class Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if self.path.startswith("/fail"):
            self._reply(500, b"kaput: database unreachable")
            return
        answer = {"echo": body, "path": self.path, "auth": self.headers["Authorization"]}
        self._reply(200, json.dumps(answer).encode(), "application/json")

    def _reply(self, status: int, body: bytes, kind: str = "text/plain") -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return None


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def request_for(tmp_path: Path, url: str) -> AttemptRequest:
    spec = {
        "url": url, "method": "POST", "headers": {"Authorization": "Bearer t0ken"},
        "params": {"day": "2026-01-05"}, "json": {"rows": [1, 2]}, "expect_status": [],
    }  # fmt: skip
    return AttemptRequest(
        task_id="call", task=Task(http=HttpRequest(url=url)), run=RUN, attempt=1, http=spec,
        log_path=str(tmp_path / "call.1.log"), timeout=10,
    )  # fmt: skip


async def test_a_real_server_round_trip(server: str, tmp_path: Path) -> None:
    async with Dispatcher() as dispatcher:
        ok = await dispatcher.execute(request_for(tmp_path, f"{server}/load"), NullObserver())
        failed = await dispatcher.execute(request_for(tmp_path, f"{server}/fail"), NullObserver())
    assert ok.outcome is Outcome.SUCCESS
    assert ok.output == {
        "echo": {"rows": [1, 2]},
        "path": "/load?day=2026-01-05",
        "auth": "Bearer t0ken",
    }
    assert failed.outcome is Outcome.FAILED
    assert failed.error == f"HTTP 500 from {server}/fail: kaput: database unreachable"


async def test_nothing_listening_fails_cleanly(tmp_path: Path) -> None:
    async with Dispatcher() as dispatcher:
        result = await dispatcher.execute(
            request_for(tmp_path, "http://127.0.0.1:9/"), NullObserver()
        )
    assert result.outcome is Outcome.FAILED
    assert (result.error or "").startswith("ConnectError")
