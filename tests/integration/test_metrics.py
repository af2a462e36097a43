"""The metrics endpoint, scraped over loopback, moved by the events the engine logs."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog
from prometheus_client.parser import text_string_to_metric_families

from tapri_daemon import __version__, logs
from tapri_daemon.errors import MetricsError
from tapri_daemon.interfaces import AttemptRequest
from tapri_daemon.metrics import Metrics, parse_listen
from tapri_daemon.testing import EngineHarness, Failure, FakeClock, definitions_of

T0 = datetime(2025, 1, 6, 9, 30, tzinfo=UTC)


@pytest.fixture
def observed_logs() -> Iterator[Callable[[], Metrics]]:
    """Configure structlog the daemon's way, at level warning, with the metrics observer.

    The configuring happens inside the test (pytest gives each phase its own stdout).
    """
    saved = structlog.get_config()
    handlers = logging.getLogger().handlers[:]

    def configure() -> Metrics:
        metrics = Metrics(clock=FakeClock(T0))
        logs.configure(fmt="json", level="warning", observers=[metrics.observe])
        return metrics

    try:
        yield configure
    finally:
        structlog.configure(**saved)
        logging.getLogger().handlers[:] = handlers


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def scrape(address: tuple[str, int]) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    async with httpx.AsyncClient() as client:
        response = await client.get(f"http://{address[0]}:{address[1]}/metrics")
    response.raise_for_status()
    return samples(response.text)


def log_a_run(workflow: str, outcome: str) -> None:
    """The events the engine logs for one run with one precise task, as it logs them."""
    log = logs.get_logger().bind(workflow=workflow, run_id="r-1")
    log.info(logs.RUN_STARTED, trigger="schedule")
    log.info(logs.TASK_STARTED, task_id="book", attempt=1, kind="command")
    log.info(logs.TASK_FIRED, task_id="book", attempt=1, lateness_us=420.0)
    level = log.info if outcome == "success" else log.warning
    level(logs.TASK_FINISHED, task_id="book", attempt=1, outcome=outcome, duration_s=2.5)
    state = "success" if outcome == "success" else "failed"
    log.info(logs.RUN_FINISHED, state=state, duration_s=3.0)


async def test_counters_move_after_runs_and_the_endpoint_serves_them(
    observed_logs: Callable[[], Metrics],
) -> None:
    metrics = observed_logs()
    async with AsyncExitStack() as stack:
        address = await metrics.start(stack, "127.0.0.1:0")
        before = await scrape(address)
        log_a_run("irctc_tatkal", "success")
        log_a_run("irctc_tatkal", "failed")
        logs.get_logger().info(
            logs.FIRE_RECORDED, workflow="irctc_tatkal", scheduled_for=T0 - timedelta(seconds=0.2)
        )
        metrics.heartbeat(T0)
        metrics.next_fires({"irctc_tatkal": T0 + timedelta(days=1)})
        after = await scrape(address)
    book = (("state", "success"), ("task", "book"), ("workflow", "irctc_tatkal"))
    failed = (("state", "failed"), ("task", "book"), ("workflow", "irctc_tatkal"))
    wf = (("workflow", "irctc_tatkal"),)
    assert ("tapri_task_runs_total", book) not in before
    assert after[("tapri_task_runs_total", book)] == 1
    assert after[("tapri_task_runs_total", failed)] == 1
    task = (("task", "book"), ("workflow", "irctc_tatkal"))
    assert after[("tapri_task_duration_seconds_count", task)] == 2
    assert after[("tapri_task_duration_seconds_sum", task)] == 5.0
    assert after[("tapri_run_duration_seconds_count", wf)] == 2
    assert after[("tapri_precise_fire_lateness_seconds_count", wf)] == 2
    le_500us = (("le", "0.0005"), ("workflow", "irctc_tatkal"))
    assert after[("tapri_precise_fire_lateness_seconds_bucket", le_500us)] == 2
    assert after[("tapri_schedule_delay_seconds_sum", wf)] == pytest.approx(0.2)
    assert after[("tapri_running_tasks", ())] == 0
    assert after[("tapri_workflow_last_success_timestamp_seconds", wf)] == T0.timestamp()
    assert after[("tapri_workflow_next_fire_timestamp_seconds", wf)] == T0.timestamp() + 86400
    assert after[("tapri_scheduler_heartbeat_timestamp_seconds", ())] == T0.timestamp()
    assert after[("tapri_build_info", (("version", __version__),))] == 1


def test_observers_see_info_events_that_the_level_keeps_out_of_the_output(
    observed_logs: Callable[[], Metrics], capsys: pytest.CaptureFixture[str]
) -> None:
    metrics = observed_logs()
    log_a_run("dabbawala", "failed")
    printed = capsys.readouterr().out
    assert logs.TASK_FINISHED in printed  # a warning: printed
    assert logs.TASK_STARTED not in printed and logs.RUN_FINISHED not in printed
    task = (("state", "failed"), ("task", "book"), ("workflow", "dabbawala"))
    assert samples(metrics.exposition().decode())[("tapri_task_runs_total", task)] == 1


async def test_config_loads_and_rejections(observed_logs: Callable[[], Metrics]) -> None:
    metrics = observed_logs()
    logs.get_logger().info(logs.CONFIG_LOADED, workflows=7)
    assert samples(metrics.exposition().decode())[("tapri_config_reload_success", ())] == 1
    logs.get_logger().error(logs.CONFIG_REJECTED, problems=2)
    after = samples(metrics.exposition().decode())
    assert after[("tapri_config_reload_success", ())] == 0
    assert after[("tapri_config_load_errors_total", ())] == 1


async def test_a_real_engine_run_moves_the_counters(
    observed_logs: Callable[[], Metrics], tmp_path: Path
) -> None:
    metrics = observed_logs()
    tasks = {
        "extract": {"python": "m:f", "retries": 1, "retry_delay": "5s"},
        "load": {"python": "m:f", "after": "extract"},
    }
    tries: list[str] = []

    def handler(request: AttemptRequest) -> Any:
        tries.append(request.task_id)
        return Failure(exit_code=1) if tries == ["extract"] else "ok"

    harness = EngineHarness(definitions_of(tasks, workflow="etl"), handler, log_dir=tmp_path)
    async with AsyncExitStack() as stack:
        address = await metrics.start(stack, "127.0.0.1:0")
        run = await harness.run("etl")
        scraped = await scrape(address)
    assert str(run.state) == "success"
    runs = {
        (dict(labels)["task"], dict(labels)["state"]): value
        for (name, labels), value in scraped.items()
        if name == "tapri_task_runs_total"
    }
    assert runs == {("extract", "failed"): 1, ("extract", "success"): 1, ("load", "success"): 1}
    assert scraped[("tapri_run_duration_seconds_count", (("workflow", "etl"),))] == 1
    assert scraped[("tapri_running_tasks", ())] == 0


def test_running_tasks_follow_starts_and_ends() -> None:
    metrics = Metrics(clock=FakeClock(T0))
    for _ in range(3):
        metrics.observe({"event": logs.TASK_STARTED, "workflow": "w", "task_id": "t"})
    metrics.observe({"event": logs.TASK_FINISHED, "workflow": "w", "task_id": "t"})
    assert samples(metrics.exposition().decode())[("tapri_running_tasks", ())] == 2


def test_next_fires_drop_workflows_that_no_longer_fire() -> None:
    metrics = Metrics(clock=FakeClock(T0))
    metrics.next_fires({"a": T0, "b": T0})
    metrics.next_fires({"b": T0})
    names = {
        labels
        for name, labels in samples(metrics.exposition().decode())
        if name == "tapri_workflow_next_fire_timestamp_seconds"
    }
    assert names == {(("workflow", "b"),)}


def test_catchup_fires_are_not_schedule_delay() -> None:
    metrics = Metrics(clock=FakeClock(T0))
    old = T0 - timedelta(hours=5)
    metrics.observe(
        {"event": logs.FIRE_RECORDED, "workflow": "w", "scheduled_for": old, "trigger": "catchup"}
    )
    assert ("tapri_schedule_delay_seconds_count", (("workflow", "w"),)) not in samples(
        metrics.exposition().decode()
    )


def test_importing_the_module_does_not_import_prometheus_client() -> None:
    code = "import sys, tapri_daemon.metrics; print('prometheus_client' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_a_missing_prometheus_client_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "prometheus_client", None)
    with pytest.raises(MetricsError, match=r"pip install 'tapri-daemon\[metrics\]'"):
        Metrics()


def test_listen_addresses() -> None:
    assert parse_listen("127.0.0.1:9464") == ("127.0.0.1", 9464)
    assert parse_listen("[::1]:9464") == ("::1", 9464)
    assert parse_listen(":9464") == ("127.0.0.1", 9464)
    with pytest.raises(MetricsError, match="host:port"):
        parse_listen("localhost")


async def test_an_address_in_use_is_a_clear_error() -> None:
    async with AsyncExitStack() as stack:
        host, port = await Metrics().start(stack, "127.0.0.1:0")
        with pytest.raises(MetricsError, match="cannot listen"):
            await Metrics().start(stack, f"{host}:{port}")
