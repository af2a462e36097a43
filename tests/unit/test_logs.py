"""logs.configure: tapri's events (rendered directly) and stdlib records share one format."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from structlog.testing import capture_logs

from tapri_daemon import logs

BOUND = {"workflow": "gst", "run_id": "gst-1"}


@pytest.fixture(autouse=True)
def restore_logging(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("JOURNAL_STREAM", raising=False)
    saved = structlog.get_config()
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        yield
    finally:
        structlog.configure(**saved)
        root.handlers[:] = handlers
        root.setLevel(level)


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_tapri_event_is_one_json_line_with_the_documented_keys() -> None:
    out = io.StringIO()
    logs.configure("json", "info", stream=out)
    logs.get_logger().bind(**BOUND).info(logs.TASK_FINISHED, task_id="a", attempt=1)
    [line] = out.getvalue().splitlines()
    event = json.loads(line)
    assert list(event) == [
        "workflow",
        "run_id",
        "task_id",
        "attempt",
        "event",
        "level",
        "logger",
        "timestamp",
    ]
    assert event["event"] == "task.finished" and event["level"] == "info"
    assert event["logger"] == "tapri" and event["timestamp"].endswith("Z")


def test_logger_names_and_levels_come_through() -> None:
    out = io.StringIO()
    logs.configure("json", "info", stream=out)
    logs.get_logger("tapri.executors").error(logs.EXECUTOR_ERROR, error="boom")
    logs.get_logger().warning(logs.FIRE_LATE)
    logs.get_logger().warn(logs.FIRE_LATE)
    first, second, third = lines(out)
    assert (first["logger"], first["level"]) == ("tapri.executors", "error")
    assert second["level"] == third["level"] == "warning"


def test_stdlib_records_come_out_in_the_same_shape() -> None:
    out = io.StringIO()
    logs.configure("json", "info", stream=out)
    logging.getLogger("aiosqlite").warning("closing %s", "db")
    logs.get_logger().info(logs.CONFIG_LOADED)
    foreign, own = lines(out)
    assert foreign == {
        "event": "closing db",
        "level": "warning",
        "logger": "aiosqlite",
        "timestamp": foreign["timestamp"],
    }
    assert set(own) == set(foreign)


def test_exceptions_are_rendered_for_both_paths() -> None:
    out = io.StringIO()
    logs.configure("json", "info", stream=out)
    try:
        raise ZeroDivisionError("nope")
    except ZeroDivisionError:
        logs.get_logger().exception(logs.EXECUTOR_ERROR)
        logging.getLogger("apscheduler").exception("job failed")
    own, foreign = lines(out)
    assert own["level"] == "error" and "ZeroDivisionError: nope" in own["exception"]
    assert "ZeroDivisionError: nope" in foreign["exception"]
    assert "exc_info" not in own


def test_stack_info_is_rendered() -> None:
    out = io.StringIO()
    logs.configure("json", "info", stream=out)
    logs.get_logger().info(logs.CONFIG_LOADED, stack_info=True)
    [event] = lines(out)
    assert "test_stack_info_is_rendered" in event["stack"]


def test_the_level_filters_and_observers_see_info_events() -> None:
    out = io.StringIO()
    seen: list[str] = []
    logs.configure("json", "warning", observers=[lambda e: seen.append(e["event"])], stream=out)
    log = logs.get_logger()
    log.info(logs.TASK_STARTED)
    log.debug(logs.TASK_STARTED)
    log.warning(logs.FIRE_LATE)
    assert [e["event"] for e in lines(out)] == ["fire.late"]
    assert seen == ["task.started", "fire.late"]


def test_a_failing_observer_never_breaks_logging() -> None:
    out = io.StringIO()

    def broken(_: Any) -> None:
        raise RuntimeError("observer bug")

    logs.configure("json", "info", observers=[broken], stream=out)
    logs.get_logger().info(logs.RUN_STARTED)
    assert [e["event"] for e in lines(out)] == ["run.started"]


def test_journal_stream_prefixes_priorities(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JOURNAL_STREAM", "8:1234")
    out = io.StringIO()
    logs.configure("json", "info", stream=out)
    logs.get_logger().info(logs.DAEMON_READY)
    logs.get_logger().warning(logs.FIRE_LATE)
    logging.getLogger("apscheduler").error("broken")
    prefixes = [line[:3] for line in out.getvalue().splitlines()]
    assert prefixes == ["<6>", "<4>", "<3>"]
    for line in out.getvalue().splitlines():
        event = json.loads(line[3:])
        assert "_syslog" not in event


def test_the_log_file_gets_both_kinds_as_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JOURNAL_STREAM", "8:1234")
    path = tmp_path / "tapri.log"
    out = io.StringIO()
    logs.configure("json", "info", log_file=str(path), stream=out)
    logs.get_logger().bind(**BOUND).info(logs.RUN_STARTED, tasks=3)
    logs.get_logger().debug(logs.RUN_STARTED)
    logging.getLogger("aiosqlite").warning("slow")
    for handler in logging.getLogger().handlers:
        handler.flush()
    written = [json.loads(line) for line in path.read_text().splitlines()]
    assert [(e["event"], e["logger"]) for e in written] == [
        ("run.started", "tapri"),
        ("slow", "aiosqlite"),
    ]
    assert written[0]["workflow"] == "gst" and written[0]["tasks"] == 3
    assert "_syslog" not in written[0]
    assert out.getvalue().startswith("<6>{")


def test_console_format_renders_text() -> None:
    out = io.StringIO()
    logs.configure("console", "info", stream=out)
    logs.get_logger().info(logs.RUN_STARTED, workflow="gst")
    text = out.getvalue()
    assert "run.started" in text and "workflow" in text and not text.startswith("{")


def test_hostile_values_keep_every_line_valid_json() -> None:
    out = io.StringIO()
    logs.configure("json", "info", stream=out)
    hostile = "a\x00b\x1b[31mred\nnext\udcff"
    logs.get_logger().info(logs.TASK_FINISHED, error=hostile, raw=b"\xff\xfeok", obj=object())
    [line] = out.getvalue().splitlines()
    event = json.loads(line)
    assert event["error"] == hostile
    assert event["raw"] == b"\xff\xfeok".decode("utf-8", "replace")
    assert event["obj"].startswith("<object object")


def test_capture_logs_still_works_after_configure() -> None:
    out = io.StringIO()
    logs.configure("json", "info", stream=out)
    with capture_logs() as captured:
        logs.get_logger().bind(**BOUND).info(logs.TASK_STARTED, task_id="a")
    assert captured == [{**BOUND, "task_id": "a", "event": "task.started", "log_level": "info"}]
    assert out.getvalue() == ""
    logs.get_logger().info(logs.TASK_STARTED)
    assert [e["event"] for e in lines(out)] == ["task.started"]


def test_a_closed_stream_does_not_raise() -> None:
    out = io.StringIO()
    logs.configure("json", "info", stream=out)
    out.close()
    logs.get_logger().info(logs.TASK_STARTED)


def test_lines_from_threads_never_interleave() -> None:
    out = io.StringIO()
    logs.configure("json", "info", stream=out)
    big = "x" * 5000

    def spam(n: int) -> None:
        for i in range(200):
            if i % 2:
                logs.get_logger().info(logs.TASK_STARTED, payload=big, worker=n)
            else:
                logging.getLogger("httpx").warning("w%d %s", n, big)

    threads = [threading.Thread(target=spam, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(lines(out)) == 800


class CountingStream(io.TextIOWrapper):
    """A buffered text stream that counts flushes (what reaches ``raw`` is what was flushed)."""

    def __init__(self) -> None:
        self.raw_bytes = io.BytesIO()
        super().__init__(self.raw_bytes, encoding="utf-8", write_through=False)
        self.flushes = 0

    def flush(self) -> None:
        self.flushes += 1
        super().flush()

    def flushed(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.raw_bytes.getvalue().decode().splitlines()]


async def test_on_a_loop_lines_are_flushed_once_per_iteration() -> None:
    out = CountingStream()
    logs.configure("json", "info", stream=out)
    log = logs.get_logger()
    for i in range(100):
        log.info(logs.TASK_STARTED, task_id=f"t{i}")
    before = out.flushes
    await asyncio.sleep(0)  # the iteration ends: one flush for the burst
    assert out.flushes == before + 1
    assert [e["task_id"] for e in out.flushed()] == [f"t{i}" for i in range(100)]
    log.info(logs.TASK_FINISHED)
    await asyncio.sleep(0)
    assert out.flushed()[-1]["event"] == "task.finished"


def test_off_a_loop_every_line_is_flushed_at_once() -> None:
    out = CountingStream()
    logs.configure("json", "info", stream=out)
    logs.get_logger().info(logs.TASK_STARTED)
    assert [e["event"] for e in out.flushed()] == ["task.started"]
    logging.getLogger("aiosqlite").warning("foreign")
    assert [e["event"] for e in out.flushed()] == ["task.started", "foreign"]


def test_a_line_left_by_a_closed_loop_is_flushed_by_the_next() -> None:
    out = CountingStream()
    logs.configure("json", "info", stream=out)

    loop = asyncio.new_event_loop()

    def log_and_stop() -> None:
        logs.get_logger().info(logs.RUN_STARTED)
        loop.stop()  # the flush was due in the next iteration, which never comes

    loop.call_soon(log_and_stop)
    loop.run_forever()
    loop.close()
    assert out.flushed() == []

    async def log_once() -> None:
        logs.get_logger().info(logs.RUN_FINISHED)

    asyncio.run(log_once())
    assert [e["event"] for e in out.flushed()] == ["run.started", "run.finished"]
