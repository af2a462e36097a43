"""`tapri run` and `tapri retry`: one run in the foreground, on the same engine and store.

No daemon is needed: the verbs open the store in the state folder, build the real
executors (``executors.Dispatcher``) and notifier (``notify.Router``) and drive
``engine.Engine`` until the run ends. Exit 0 when the run succeeded, 1 otherwise. Logs go
to stderr, so stdout carries only the result (a table, or JSON with ``--json``). Ctrl-C
or SIGTERM cancels the run (its task processes are stopped) and exits 1.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import uuid
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import click

from tapri_daemon import logs, zones
from tapri_daemon.cli.common import CliContext, console, echo_json, global_options, pass_context
from tapri_daemon.errors import TapriError
from tapri_daemon.interfaces import RunRecord, RunState, TaskRecord, Trigger

if TYPE_CHECKING:
    from tapri_daemon.engine import Engine
    from tapri_daemon.spec.load import Loaded

Drive = Callable[["Engine"], Awaitable[RunRecord]]


def register(group: click.Group) -> None:
    """Add this module's verbs to the root group."""
    group.add_command(run)
    group.add_command(retry)


@click.command("run")
@click.argument("workflow")
@click.option(
    "--param",
    "params",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a declared param (repeatable); VALUE is JSON when it parses, else text.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the run as JSON.")
@global_options
@pass_context
def run(ctx: CliContext, workflow: str, params: tuple[str, ...], as_json: bool) -> None:
    """Run WORKFLOW once, now, in the foreground."""
    from tapri_daemon.engine import parse_assignments

    overrides = parse_assignments(params)

    async def drive(engine: Engine) -> RunRecord:
        now = engine.services.clock.now()
        record = await engine.create_run(
            workflow, logical_date=now, trigger=Trigger.MANUAL, params=overrides
        )
        return await _execute(engine, record.run_id, lambda: engine.execute(record.run_id))

    _main(ctx, drive, as_json)


@click.command("retry")
@click.argument("run_id")
@click.option("--task", "task", default=None, help="Re-run this task (default: every failed one).")
@click.option("--downstream", is_flag=True, help="With --task: also every task after it.")
@click.option("--json", "as_json", is_flag=True, help="Print the run as JSON.")
@global_options
@pass_context
def retry(ctx: CliContext, run_id: str, task: str | None, downstream: bool, as_json: bool) -> None:
    """Re-run the failed tasks of RUN_ID, reusing the stored outputs of the others."""
    if downstream and task is None:
        raise click.UsageError("--downstream goes with --task")

    async def drive(engine: Engine) -> RunRecord:
        return await _execute(
            engine, run_id, lambda: engine.retry(run_id, task=task, downstream=downstream)
        )

    _main(ctx, drive, as_json)


def _main(ctx: CliContext, drive: Drive, as_json: bool) -> None:
    from tapri_daemon.engine import tune_gc

    loaded = ctx.definitions()
    tune_gc()
    daemon = loaded.settings.settings.daemon
    logs.configure(daemon.log_format, daemon.log_level, stream=sys.stderr)
    final, tasks = asyncio.run(_session(loaded, drive))
    _print(loaded, final, tasks, as_json)
    sys.exit(0 if final.state is RunState.SUCCESS else 1)


async def _execute(
    engine: Engine, run_id: str, start: Callable[[], Awaitable[RunRecord]]
) -> RunRecord:
    """Drive the run; SIGINT / SIGTERM cancel it (processes stopped) instead of killing us."""
    failure: TapriError | None = None
    async with anyio.create_task_group() as tg:
        tg.start_soon(_cancel_on_signal, engine, run_id)
        try:
            final = await start()
        except TapriError as exc:  # re-raised outside the group, not as an ExceptionGroup
            failure = exc
        finally:
            tg.cancel_scope.cancel()
    if failure is not None:
        raise failure
    return final


async def _cancel_on_signal(engine: Engine, run_id: str) -> None:
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for signum in signals:
            engine.cancel(run_id, f"interrupted by {signal.Signals(signum).name}")


def _python_path(loaded: Loaded) -> tuple[str, ...]:
    base = loaded.settings.paths.base_dir
    return tuple(str(base / p) for p in loaded.settings.settings.daemon.python_path)


def _credentials_dir() -> Path | None:
    folder = os.environ.get("CREDENTIALS_DIRECTORY")
    return Path(folder) if folder else None


async def _session(loaded: Loaded, drive: Drive) -> tuple[RunRecord, list[TaskRecord]]:
    from tapri_daemon.clocks import SystemClock
    from tapri_daemon.engine import Engine, EngineConfig
    from tapri_daemon.executors import Dispatcher
    from tapri_daemon.notify import Router
    from tapri_daemon.store.sqlite import SQLiteStore

    settings = loaded.settings
    clock = SystemClock()
    async with AsyncExitStack() as stack:
        store = await SQLiteStore.start(stack, settings.paths.db_path)
        dispatcher = Dispatcher(python_path=_python_path(loaded), clock=clock)
        executor = await stack.enter_async_context(dispatcher)
        router = Router(
            loaded.definitions,
            clock=clock,
            credentials_dir=_credentials_dir(),
            default_timezone=settings.default_timezone,
        )
        await router.start(stack)
        config = EngineConfig(
            log_dir=settings.paths.log_dir,
            max_parallel_tasks=settings.settings.daemon.max_parallel_tasks,
            python_path=_python_path(loaded),
            default_timezone=settings.default_timezone,
            daemon_id=f"cli-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}",
            credentials_dir=_credentials_dir(),
        )
        engine = Engine(
            config=config,
            store=store,
            executor=executor,
            clock=clock,
            notifier=router,
            definitions=loaded,
        )
        try:
            final = await drive(engine)
        except TapriError as exc:  # raised below, outside the notifier's task group
            failure = exc
        else:
            return final, await store.get_tasks(final.run_id)
    raise failure


def _ordered(loaded: Loaded, final: RunRecord, tasks: list[TaskRecord]) -> list[TaskRecord]:
    workflow = loaded.definitions.workflow.get(final.workflow)
    order = {t: i for i, t in enumerate(workflow.task)} if workflow else {}
    return sorted(tasks, key=lambda t: (order.get(t.task_id, len(order)), t.task_id))


def _print(loaded: Loaded, final: RunRecord, tasks: list[TaskRecord], as_json: bool) -> None:
    from tapri_daemon.views.documents import run_document

    tasks = _ordered(loaded, final, tasks)
    if as_json:
        echo_json(run_document(final, tasks))
        return
    _print_table(loaded, final, tasks)


def _print_table(loaded: Loaded, final: RunRecord, tasks: list[TaskRecord]) -> None:
    from tapri_daemon.views.show import header
    from tapri_daemon.views.tables import tasks_table

    workflow: Any = loaded.definitions.workflow.get(final.workflow)
    zone_name = (workflow.timezone if workflow else None) or loaded.settings.default_timezone
    tz = zones.zone(zone_name)
    out = console()
    out.print(header(final, tz))
    out.print(tasks_table(tasks, tz))
