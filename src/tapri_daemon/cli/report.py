"""`tapri report [WORKFLOW] [--since 7d] [--json]`: how the workflows did lately.

Per workflow: runs, success rate, duration p50/p95, retries, late precise fires, missed
fires, last success. The figures come from ``Store.run_stats`` over the store opened
read-only (works next to a running daemon, never needs it). Percentiles are nearest-rank:
a shown p95 is a duration some run really took.
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any

import click
from rich import box
from rich.table import Table

from tapri_daemon import durations, zones
from tapri_daemon.cli.common import CliContext, console, echo_json, global_options, pass_context
from tapri_daemon.errors import DurationError
from tapri_daemon.interfaces import WorkflowStats

COLUMNS = (
    "workflow", "runs", "ok", "failed", "success", "p50", "p95", "retries", "late", "missed",
    "last success",
)  # fmt: skip


def register(group: click.Group) -> None:
    """Add this module's verbs to the root group."""
    group.add_command(report)


def _now() -> datetime:
    """The one place this verb reads the clock."""
    return datetime.now(UTC)


def _window(_: click.Context, __: click.Parameter, value: str) -> timedelta:
    try:
        return durations.parse_duration(value)
    except DurationError as exc:
        raise click.BadParameter(exc.message) from None


async def collect(db: Path, since: datetime, workflow: str | None) -> list[WorkflowStats]:
    """The figures of every workflow (or one) for runs queued at or after ``since``."""
    from tapri_daemon.store.sqlite import SQLiteStore

    async with SQLiteStore.open(db, readonly=True) as store:
        return await store.run_stats(since, workflow)


def _seconds(value: float | None) -> str:
    from tapri_daemon.views.tables import human_seconds

    return "-" if value is None else human_seconds(value)


def _rate(stats: WorkflowStats) -> str:
    return "-" if stats.success_rate is None else f"{stats.success_rate:.0%}"


def _when(value: datetime | None, tz: tzinfo) -> str:
    return "-" if value is None else value.astimezone(tz).strftime("%Y-%m-%d %H:%M")


def _row(stats: WorkflowStats, tz: tzinfo) -> list[str]:
    return [
        stats.workflow,
        str(stats.runs),
        str(stats.succeeded),
        str(stats.failed),
        _rate(stats),
        _seconds(stats.duration_p50_s),
        _seconds(stats.duration_p95_s),
        str(stats.retries),
        str(stats.late_fires),
        str(stats.missed_fires),
        _when(stats.last_success_at, tz),
    ]


def table(rows: list[WorkflowStats], tz: tzinfo, title: str) -> Table:
    """The rich table `tapri report` prints."""
    shown = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False, title_justify="left")
    for name in COLUMNS:
        shown.add_column(name, no_wrap=True, justify="left" if name == "workflow" else "right")
    for stats in rows:
        shown.add_row(*_row(stats, tz))
    return shown


def as_json(rows: list[WorkflowStats], since: datetime) -> dict[str, Any]:
    """The document `tapri report --json` prints (datetimes in ISO 8601, UTC)."""
    return {"since": since.isoformat(), "workflows": [_plain(asdict(stats)) for stats in rows]}


def _plain(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in values.items()}


@click.command()
@click.argument("workflow", required=False)
@click.option(
    "--since",
    "window",
    default="7d",
    show_default=True,
    callback=_window,
    help="How far back to look, as a duration (24h, 7d, 30d).",
)
@click.option("--json", "as_json_flag", is_flag=True, help="Print JSON instead of a table.")
@global_options
@pass_context
def report(ctx: CliContext, workflow: str | None, window: timedelta, as_json_flag: bool) -> None:
    """Success rate, duration p50/p95, retries and late fires per workflow."""
    since = _now() - window
    db = ctx.settings().paths.db_path
    rows = asyncio.run(collect(db, since, workflow)) if db.is_file() else []
    if as_json_flag:
        echo_json(as_json(rows, since))
        return
    if not rows:
        about = f"of {workflow} " if workflow else ""
        click.echo(f"no runs {about}in the last {durations.format_duration(window)}")
        return
    tz = zones.zone(ctx.settings().default_timezone)
    title = f"since {_when(since, tz)} ({durations.format_duration(window)})"
    console().print(table(rows, tz, title))
