"""`tapri` verbs that look at what ran: runs, show, logs, cleanup.

They read the store directly (read-only, so they work while a daemon writes, and never
need it running). A state folder without a store means nothing has run yet, which is not
an error. `cleanup` is the one writer: short BEGIN IMMEDIATE transactions, safe next to a
running daemon. The clock is read in one place, ``_now``.
"""

from __future__ import annotations

import asyncio
import shutil
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import TypeAlias, TypeVar

import click

from tapri_daemon import durations, zones
from tapri_daemon.cli.common import (
    CliContext,
    console,
    echo_json,
    global_options,
    pass_context,
    read_store,
)
from tapri_daemon.errors import DurationError, NotFoundError
from tapri_daemon.interfaces import AttemptRecord, RunRecord, RunState, TaskRecord
from tapri_daemon.store.sqlite import SQLiteStore
from tapri_daemon.views.documents import run_document, run_summary
from tapri_daemon.views.mermaid import mermaid_gantt
from tapri_daemon.views.show import show_run
from tapri_daemon.views.tables import local, runs_table

T = TypeVar("T")
_Shown: TypeAlias = tuple[RunRecord, list[TaskRecord], list[AttemptRecord]]
FOLLOW_POLL = 0.2


def register(group: click.Group) -> None:
    """Add this module's verbs to the root group."""
    for command in (runs, show, logs, cleanup):
        group.add_command(command)


def _now() -> datetime:
    """The one place these verbs read the clock."""
    return datetime.now(UTC)


def _db(ctx: CliContext) -> Path:
    return ctx.settings().paths.db_path


async def _need_run(store: SQLiteStore, run_id: str) -> RunRecord:
    run = await store.get_run(run_id)
    if run is None:
        recent = [r.run_id for r in await store.list_runs(limit=200)]
        raise NotFoundError("run", run_id, recent)
    return run


def _no_store(ctx: CliContext) -> None:
    click.echo(f"no runs yet (no store at {_db(ctx)})")


# runs


@click.command()
@click.argument("workflow", required=False)
@click.option(
    "--state",
    "states",
    multiple=True,
    type=click.Choice([str(s) for s in RunState]),
    help="Only runs in this state (repeatable).",
)
@click.option("--last", "last", type=click.IntRange(min=1), default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="An array of run summaries.")
@global_options
@pass_context
def runs(
    ctx: CliContext, workflow: str | None, states: tuple[str, ...], last: int, as_json: bool
) -> None:
    """The latest runs, newest first."""
    chosen = [RunState(s) for s in states]

    async def use(store: SQLiteStore) -> list[RunRecord]:
        return await store.list_runs(workflow=workflow, states=chosen, limit=last)

    found = read_store(ctx, use, None)
    if as_json:
        echo_json([run_summary(run) for run in found or []])
    elif found is None:
        _no_store(ctx)
    elif not found:
        click.echo("no runs match")
    else:
        tz = zones.zone(ctx.settings().default_timezone)
        console().print(runs_table(found, tz, workflow=workflow is None))


# show


@click.command()
@click.argument("run_id")
@click.option("--json", "as_json", is_flag=True, help="The run, its tasks and their attempts.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "mermaid"]),
    default="text",
    show_default=True,
    help="text: task table and timeline; mermaid: a Mermaid gantt of the timeline.",
)
@global_options
@pass_context
def show(ctx: CliContext, run_id: str, as_json: bool, fmt: str) -> None:
    """One run: its tasks, and a timeline of every attempt."""

    async def use(store: SQLiteStore) -> _Shown:
        run = await _need_run(store, run_id)
        return run, await store.get_tasks(run_id), await store.get_attempts(run_id)

    found = read_store(ctx, use, None)
    if found is None:
        raise NotFoundError("run", run_id)
    run, tasks, attempts = found
    tz = zones.zone(ctx.settings().default_timezone)
    if as_json:
        echo_json(run_document(run, tasks, attempts))
    elif fmt == "mermaid":
        click.echo(mermaid_gantt(run, attempts, now=_now(), tz=tz), nl=False)
    else:
        out = console()
        out.print(show_run(run, tasks, attempts, now=_now(), tz=tz, width=out.width))


# logs


def log_path(run: RunRecord, attempt: AttemptRecord, log_dir: Path) -> Path:
    """Where an attempt's output is: as recorded, else the standard place under log_dir."""
    if attempt.log_path:
        return Path(attempt.log_path)
    return log_dir / run.workflow / run.run_id / f"{attempt.task_id}.{attempt.attempt}.log"


def _copy(path: Path, offset: int) -> int:
    """Write the bytes of ``path`` after ``offset`` to stdout; return the new offset."""
    try:
        with path.open("rb") as handle:
            handle.seek(offset)
            data = handle.read()
    except FileNotFoundError:
        return offset
    sys.stdout.flush()
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()
    return offset + len(data)


def _print_attempts(run: RunRecord, chosen: Sequence[AttemptRecord], log_dir: Path) -> None:
    for attempt in chosen:
        path = log_path(run, attempt, log_dir)
        if len(chosen) > 1:
            outcome = str(attempt.outcome or "running")
            click.echo(f"==> {attempt.task_id} #{attempt.attempt} ({outcome}) {path} <==")
        if not path.is_file():
            click.echo(f"(no log file at {path})", err=True)
        _copy(path, 0)


async def _follow(
    store: SQLiteStore, run: RunRecord, attempt: AttemptRecord, log_dir: Path
) -> None:
    """Print the log as it grows until the attempt has an outcome."""
    path = log_path(run, attempt, log_dir)
    offset = 0
    while True:
        offset = _copy(path, offset)
        latest = await store.get_attempts(run.run_id, attempt.task_id)
        current = next((a for a in latest if a.attempt == attempt.attempt), None)
        if current is None or current.outcome is not None:
            _copy(path, offset)
            return
        await asyncio.sleep(FOLLOW_POLL)


async def _choose(
    store: SQLiteStore, run: RunRecord, task: str | None, number: int | None
) -> list[AttemptRecord]:
    attempts = await store.get_attempts(run.run_id, task)
    if task is not None and not attempts:
        known = [t.task_id for t in await store.get_tasks(run.run_id)]
        raise NotFoundError(f"attempt of a task in run {run.run_id} named", task, known)
    chosen = [a for a in attempts if number is None or a.attempt == number]
    if not chosen:
        raise NotFoundError("attempt", f"{task or '*'} #{number}")
    return chosen


@click.command()
@click.argument("run_id")
@click.argument("task", required=False)
@click.option("--attempt", "number", type=click.IntRange(min=1), help="Only this attempt.")
@click.option(
    "-f",
    "--follow",
    is_flag=True,
    help="Follow one attempt (TASK's latest, or the run's latest) until it ends.",
)
@global_options
@pass_context
def logs(ctx: CliContext, run_id: str, task: str | None, number: int | None, follow: bool) -> None:
    """Print the captured output of a run's attempts (all of them, or TASK's)."""
    log_dir = ctx.settings().paths.log_dir

    async def use(store: SQLiteStore) -> bool:
        run = await _need_run(store, run_id)
        chosen = await _choose(store, run, task, number)
        if follow:
            latest = max(chosen, key=lambda a: (a.started_at, a.attempt))
            await _follow(store, run, latest, log_dir)
        else:
            _print_attempts(run, chosen, log_dir)
        return True

    if not read_store(ctx, use, False):
        raise NotFoundError("run", run_id)


# cleanup


def _duration(_: click.Context, __: click.Parameter, value: str) -> timedelta:
    try:
        return durations.parse_duration(value)
    except DurationError as exc:
        raise click.BadParameter(exc.message) from None


def _folders(run: RunRecord, attempts: Sequence[AttemptRecord], log_dir: Path) -> list[Path]:
    """The run's log folders that exist (only folders named after the run)."""
    found = {log_dir / run.workflow / run.run_id}
    found |= {log_path(run, a, log_dir).parent for a in attempts}
    return sorted(f for f in found if f.name == run.run_id and f.is_dir())


def _size(folders: Sequence[Path]) -> int:
    return sum(p.stat().st_size for f in folders for p in f.rglob("*") if p.is_file())


def _remove(folders: Sequence[Path]) -> None:
    for folder in folders:
        shutil.rmtree(folder, ignore_errors=True)


async def _cleanup(db: Path, log_dir: Path, cutoff: datetime, dry_run: bool, tz: tzinfo) -> None:
    verb = "would remove" if dry_run else "removed"
    async with SQLiteStore.open(db, readonly=dry_run) as store:
        doomed = await store.finished_runs_before(cutoff)
        plans = [(r, _folders(r, await store.get_attempts(r.run_id), log_dir)) for r in doomed]
        if not dry_run:
            for start in range(0, len(doomed), 100):
                await store.delete_runs([r.run_id for r in doomed[start : start + 100]])
    size = sum(_size(folders) for _, folders in plans)
    for run, folders in plans:
        ended = local(run.ended_at or run.queued_at, tz)
        shown = ", ".join(str(f) for f in folders) or "no logs"
        click.echo(f"{verb} {run.run_id} ({run.workflow}, {run.state}, ended {ended}): {shown}")
        if not dry_run:
            _remove(folders)
    count = sum(len(folders) for _, folders in plans)
    click.echo(f"{verb} {len(plans)} runs and {count} log folders ({size / 1e6:.1f} MB)")


@click.command()
@click.option(
    "--older-than",
    "older_than",
    default="30d",
    show_default=True,
    callback=_duration,
    help="Finished runs that ended longer ago than this (e.g. 7d, 12h).",
)
@click.option("--dry-run", is_flag=True, help="Only print what would be removed.")
@global_options
@pass_context
def cleanup(ctx: CliContext, older_than: timedelta, dry_run: bool) -> None:
    """Remove finished runs older than --older-than, with their log folders."""
    db = _db(ctx)
    if not db.is_file():
        click.echo(f"nothing to clean up (no store at {db})")
        return
    paths = ctx.settings().paths
    tz = zones.zone(ctx.settings().default_timezone)
    asyncio.run(_cleanup(db, paths.log_dir, _now() - older_than, dry_run, tz))
