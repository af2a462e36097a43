"""Figures for notifications and metrics: enqueue cost, render cost, loopback delivery.

    /work/venv/bin/python bench/bench_notify.py

Prints: notify() cost per call (the caller's side), message rendering per language,
notify() -> JSON webhook arrival through apprise on loopback, and Metrics.observe cost.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Sequence
from contextlib import AsyncExitStack
from datetime import UTC, datetime

from tapri_daemon import logs, zones
from tapri_daemon.clocks import SystemClock
from tapri_daemon.interfaces import Event, EventKind
from tapri_daemon.metrics import Metrics
from tapri_daemon.model import Definitions, Notifier
from tapri_daemon.notify import Message, Renderer, Router

AT = datetime(2025, 1, 6, 9, 30, 3, tzinfo=UTC)
EVENT = Event(
    kind=EventKind.RUN_FAILED,
    workflow="gst",
    at=AT,
    run_id="gst-1",
    reason="task upload failed (exit 2)",
    details={"failed_tasks": ["upload"], "log_tail": {"upload": "x\n" * 40}},
)


class NullSender:
    async def send(
        self, name: str, urls: Sequence[str], message: Message, *, time_limit: float
    ) -> None:
        return None


def definitions(url: str) -> Definitions:
    return Definitions.model_validate(
        {
            "notifier": {"ops": {"urls": [url]}},
            "workflow": {
                "gst": {"notify": {"on_failure": ["ops"]}, "task": {"upload": {"command": "true"}}}
            },
        }
    )


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def enqueue_cost(n: int = 20_000) -> None:
    router = Router(
        definitions("json://127.0.0.1:9/x"), clock=SystemClock(), sender=NullSender(), queue_size=n
    )
    started = time.perf_counter_ns()
    for _ in range(n):
        await router.notify(EVENT)
    took = (time.perf_counter_ns() - started) / n / 1000
    print(f"notify() on the caller's side: {took:.2f} µs per call ({n} calls, queued only)")


def render_cost(n: int = 2_000) -> None:
    renderer, zone = Renderer(), zones.zone("Asia/Kolkata")
    for language in ("en", "hi", "mr", "hinglish"):
        spec = Notifier(urls=("json://x",), language=language)
        started = time.perf_counter()
        for _ in range(n):
            renderer.render(EVENT, "ops", spec, zone=zone)
        print(
            f"render {language:9s}: {(time.perf_counter() - started) / n * 1e6:7.1f} µs per message"
        )


async def loopback_delivery(n: int = 50) -> None:
    arrived: asyncio.Queue[float] = asyncio.Queue()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
        await reader.readexactly(length)
        arrived.put_nowait(time.perf_counter())
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    router = Router(definitions(f"json://127.0.0.1:{port}/hook"), clock=SystemClock())
    latencies: list[float] = []
    async with server, AsyncExitStack() as stack:
        await router.start(stack)
        for _ in range(n):
            sent = time.perf_counter()
            await router.notify(EVENT)
            latencies.append((await arrived.get() - sent) * 1000)
            await router.wait_idle()
    p50, p95 = statistics.median(latencies), pct(latencies, 0.95)
    print(
        f"notify() -> webhook arrival (apprise json://, loopback): p50 {p50:.1f} ms,"
        f" p95 {p95:.1f} ms, first {latencies[0]:.1f} ms (loads apprise's plugins), {n} messages"
    )


def observe_cost(n: int = 50_000) -> None:
    metrics = Metrics()
    event = {
        "event": "task.finished",
        "workflow": "gst",
        "task_id": "upload",
        "outcome": "success",
        "duration_s": 1.5,
    }
    started = time.perf_counter()
    for _ in range(n):
        metrics.observe(dict(event))
    each_us = (time.perf_counter() - started) / n * 1e6
    print(f"Metrics.observe(task.finished): {each_us:.2f} µs per event")


async def main() -> None:
    logs.configure(fmt="console", level="warning")
    await enqueue_cost()
    render_cost()
    await loopback_delivery()
    observe_cost()


if __name__ == "__main__":
    asyncio.run(main())
