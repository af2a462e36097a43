"""Prometheus metrics (the optional extra ``tapri-daemon[metrics]``).

    metrics = Metrics()                                  # TapriError if prometheus-client is absent
    logs.configure(..., observers=[metrics.observe])     # the engine feeds it through its logs
    address = await metrics.start(exit_stack, "127.0.0.1:9464")
    metrics.heartbeat(clock.now()); metrics.next_fires(scheduler.next_fires())

The engine never imports this module: the stable log vocabulary is the contract.
``observe`` turns the events the engine and scheduler already log into metrics
(``task.started``/``task.finished``, ``task.fired``, ``run.finished``, ``fire.recorded``,
``config.*``). What no log event says (the heartbeat, next fire times) the daemon sets
through the explicit hooks. Importing this module needs nothing; prometheus-client is
imported when a ``Metrics`` is made. Every series lives in the instance's own
``CollectorRegistry``; no label carries a run id. The endpoint is prometheus-client's
own HTTP server (one daemon thread), shut down by the exit stack.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, MutableMapping
from contextlib import AsyncExitStack
from datetime import datetime
from typing import Any, Final

import anyio

from tapri_daemon import __version__, logs
from tapri_daemon.clocks import SystemClock
from tapri_daemon.errors import MetricsError
from tapri_daemon.interfaces import Clock

DURATION_BUCKETS: Final = (0.1, 0.5, 1, 5, 15, 30, 60, 300, 900, 1800, 3600, 4 * 3600)
DELAY_BUCKETS: Final = (0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 15, 60, 300)
LATENESS_BUCKETS: Final = (
    1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 0.01, 0.05, 0.1, 1,
)  # fmt: skip

EventDict = MutableMapping[str, Any]


def _prometheus() -> Any:
    try:
        import prometheus_client
    except ImportError:
        raise MetricsError(
            "[metrics] listen is set but prometheus-client is not installed; "
            "install the extra: pip install 'tapri-daemon[metrics]'"
        ) from None
    return prometheus_client


def parse_listen(listen: str) -> tuple[str, int]:
    """ "127.0.0.1:9464" / "[::1]:9464" / ":9464" (loopback) -> (host, port)."""
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise MetricsError(f'listen = "{listen}": write host:port, e.g. "127.0.0.1:9464"')
    return host.strip("[]") or "127.0.0.1", int(port)


class Metrics:
    """The daemon's Prometheus series and the hooks that move them."""

    def __init__(self, *, clock: Clock | None = None, version: str = __version__) -> None:
        prom = _prometheus()
        self._prom = prom
        self._clock = clock or SystemClock()
        self._running = 0
        self._scheduled: set[str] = set()
        self.registry = prom.CollectorRegistry(auto_describe=True)
        self._define(prom, self.registry)
        self._build_info.labels(version=version).set(1)
        self._handlers = self._event_handlers()

    def _define(self, prom: Any, registry: Any) -> None:
        def gauge(name: str, doc: str, labels: tuple[str, ...] = ()) -> Any:
            return prom.Gauge(name, doc, labels, registry=registry)

        def histogram(name: str, doc: str, labels: tuple[str, ...], buckets: Any) -> Any:
            return prom.Histogram(name, doc, labels, registry=registry, buckets=buckets)

        wf, wf_task = ("workflow",), ("workflow", "task")
        self._heartbeat = gauge(
            "tapri_scheduler_heartbeat_timestamp_seconds", "When the scheduler loop last ran."
        )
        self._reload_ok = gauge(
            "tapri_config_reload_success", "1 if the last definitions load succeeded, else 0."
        )
        self._load_errors = prom.Counter(
            "tapri_config_load_errors", "Definition loads rejected.", registry=registry
        )
        self._task_runs = prom.Counter(
            "tapri_task_runs",
            "Finished task attempts by outcome.",
            ("workflow", "task", "state"),
            registry=registry,
        )
        self._task_duration = histogram(
            "tapri_task_duration_seconds", "Task attempt durations.", wf_task, DURATION_BUCKETS
        )
        self._run_duration = histogram(
            "tapri_run_duration_seconds", "Run durations.", wf, DURATION_BUCKETS
        )
        self._fire_delay = histogram(
            "tapri_schedule_delay_seconds", "Schedule instant to fire.", wf, DELAY_BUCKETS
        )
        self._lateness = histogram(
            "tapri_precise_fire_lateness_seconds",
            "Precise fire instant to task start.",
            wf,
            LATENESS_BUCKETS,
        )
        self._running_gauge = gauge("tapri_running_tasks", "Task attempts running now.")
        self._next_fire = gauge(
            "tapri_workflow_next_fire_timestamp_seconds", "Next scheduled fire.", wf
        )
        self._last_success = gauge(
            "tapri_workflow_last_success_timestamp_seconds", "End of the last successful run.", wf
        )
        self._build_info = gauge("tapri_build_info", "tapri's version.", ("version",))

    # -- hooks ---------------------------------------------------------------------------
    def task_finished(self, workflow: str, task: str, state: str, duration_s: float | None) -> None:
        self._task_runs.labels(workflow=workflow, task=task, state=state).inc()
        if duration_s is not None:
            self._task_duration.labels(workflow=workflow, task=task).observe(duration_s)

    def run_finished(self, workflow: str, state: str, duration_s: float | None) -> None:
        if duration_s is not None:
            self._run_duration.labels(workflow=workflow).observe(duration_s)
        if state == "success":
            self._last_success.labels(workflow=workflow).set(self._clock.now().timestamp())

    def fire_delay(self, workflow: str, seconds: float) -> None:
        self._fire_delay.labels(workflow=workflow).observe(max(0.0, seconds))

    def precise_lateness(self, workflow: str, seconds: float) -> None:
        self._lateness.labels(workflow=workflow).observe(max(0.0, seconds))

    def running_tasks(self, n: int) -> None:
        self._running = max(0, n)
        self._running_gauge.set(self._running)

    def heartbeat(self, now: datetime) -> None:
        self._heartbeat.set(now.timestamp())

    def next_fire(self, workflow: str, ts: datetime | None) -> None:
        if ts is not None:
            self._next_fire.labels(workflow=workflow).set(ts.timestamp())
            self._scheduled.add(workflow)
        elif workflow in self._scheduled:
            self._next_fire.remove(workflow)
            self._scheduled.discard(workflow)

    def next_fires(self, fires: Mapping[str, datetime]) -> None:
        """Set every workflow's next fire; workflows not in ``fires`` lose their series."""
        for workflow in self._scheduled - set(fires):
            self.next_fire(workflow, None)
        for workflow, ts in fires.items():
            self.next_fire(workflow, ts)

    def config_reloaded(self, ok: bool) -> None:
        self._reload_ok.set(1 if ok else 0)
        if not ok:
            self._load_errors.inc()

    def exposition(self) -> bytes:
        """The text format, as the endpoint serves it."""
        payload: bytes = self._prom.generate_latest(self.registry)
        return payload

    # -- the logs observer ---------------------------------------------------------------
    def observe(self, event: EventDict) -> None:
        """A ``logs.configure`` observer: move metrics by the events the engine logs."""
        handler = self._handlers.get(str(event.get("event")))
        if handler is not None:
            handler(event)

    def _event_handlers(self) -> dict[str, Callable[[EventDict], None]]:
        return {
            logs.TASK_STARTED: lambda _: self.running_tasks(self._running + 1),
            logs.TASK_FINISHED: self._on_task_finished,
            logs.TASK_FIRED: self._on_task_fired,
            logs.RUN_FINISHED: self._on_run_finished,
            logs.FIRE_RECORDED: self._on_fire_recorded,
            logs.CONFIG_LOADED: lambda _: self.config_reloaded(True),
            logs.CONFIG_RELOADED: lambda _: self.config_reloaded(True),
            logs.CONFIG_REJECTED: lambda _: self.config_reloaded(False),
        }

    def _on_task_finished(self, event: EventDict) -> None:
        self.running_tasks(self._running - 1)
        workflow, task = event.get("workflow"), event.get("task_id")
        if workflow and task:
            state = str(event.get("outcome") or "unknown")
            self.task_finished(str(workflow), str(task), state, _float(event.get("duration_s")))

    def _on_task_fired(self, event: EventDict) -> None:
        lateness_us = _float(event.get("lateness_us"))
        if event.get("workflow") and lateness_us is not None:
            self.precise_lateness(str(event["workflow"]), lateness_us / 1e6)

    def _on_run_finished(self, event: EventDict) -> None:
        if event.get("workflow"):
            state = str(event.get("state") or "unknown")
            self.run_finished(str(event["workflow"]), state, _float(event.get("duration_s")))

    def _on_fire_recorded(self, event: EventDict) -> None:
        if not event.get("workflow") or str(event.get("trigger")) == "catchup":
            return
        delay = _float(event.get("delay_s"))
        if delay is None:
            delay = self._since(event.get("scheduled_for"))
        if delay is not None and delay >= 0:
            self.fire_delay(str(event["workflow"]), delay)

    def _since(self, value: Any) -> float | None:
        instant = _instant(value)
        return (self._clock.now() - instant).total_seconds() if instant else None

    # -- the endpoint --------------------------------------------------------------------
    async def start(self, exit_stack: AsyncExitStack, listen: str) -> tuple[str, int]:
        """Serve /metrics on ``listen``; returns the bound (host, port) (port 0 picks one)."""
        host, port = parse_listen(listen)
        try:
            server, thread = self._prom.start_http_server(port, addr=host, registry=self.registry)
        except OSError as exc:
            raise MetricsError(f"cannot listen on {listen}: {exc.strerror or exc}") from None
        exit_stack.push_async_callback(_stop_server, server, thread)
        bound = server.server_address
        return str(bound[0]), int(bound[1])


async def _stop_server(server: Any, thread: Any) -> None:
    with anyio.CancelScope(shield=True):
        await anyio.to_thread.run_sync(server.shutdown)
        server.server_close()
        await anyio.to_thread.run_sync(thread.join, 5.0)


def _float(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _instant(value: Any) -> datetime | None:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return None
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value
    return None
