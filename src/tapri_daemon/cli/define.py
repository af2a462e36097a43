"""`tapri` verbs of the define group: validate, list, next, graph, calendar, schema.

Everything here only reads definition files; nothing talks to the daemon. The current
time is read once, in ``_now``, and passed into the pure builders of ``define_views``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import click

from tapri_daemon.cli.common import (
    EXIT_CONFIG,
    CliContext,
    console,
    echo_json,
    global_options,
    pass_context,
    read_store,
)
from tapri_daemon.errors import ConfigError, NotFoundError, Problem
from tapri_daemon.interfaces import RunState

if TYPE_CHECKING:
    from tapri_daemon.cli.define_views import History
    from tapri_daemon.spec.load import Loaded
    from tapri_daemon.store.sqlite import SQLiteStore

GRAPH_FORMATS = ("text", "mermaid", "dot")


def register(group: click.Group) -> None:
    """Add this module's verbs to the root group."""
    for command in (validate, list_workflows, next_fires, graph, calendar, schema):
        group.add_command(command)


def _now() -> datetime:
    """The one place the define verbs read the clock."""
    return datetime.now(UTC)


def report_problems(problems: Sequence[Problem]) -> None:
    """Every problem on stderr, one per line, then a count."""
    for problem in problems:
        click.echo(str(problem), err=True)
    errors = sum(p.severity == "error" for p in problems)
    warnings = len(problems) - errors
    click.echo(f"{_plural(errors, 'error')}, {_plural(warnings, 'warning')}", err=True)


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")


def load(ctx: CliContext) -> Loaded:
    """The validated definitions, or every problem printed and exit 78."""
    try:
        return ctx.definitions()
    except ConfigError as exc:
        report_problems(exc.problems)
        # SystemExit, not click's Exit: cli.main runs click with standalone_mode=False,
        # where click turns Exit into a return value that main() does not pass on.
        raise SystemExit(EXIT_CONFIG) from None


@click.command()
@global_options
@pass_context
def validate(ctx: CliContext) -> None:
    """Check every definition file; print OK or every problem (exit 78)."""
    loaded = load(ctx)
    for warning in loaded.warnings:
        click.echo(str(warning), err=True)
    workflows = loaded.definitions.workflow
    tasks = sum(len(wf.task) for wf in workflows.values())
    click.echo(f"OK: {len(workflows)} workflows, {tasks} tasks")


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value) or "-"
    return str(value)


def print_table(
    rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str]], title: str | None = None
) -> None:
    """Rows as a rich table; ``columns`` = (row key, header)."""
    from rich.table import Table

    table = Table(title=title, box=None, header_style="bold", pad_edge=False)
    for _, header in columns:
        table.add_column(header)
    for row in rows:
        table.add_row(*(_cell(row.get(key)) for key, _ in columns))
    console().print(table)


def _human_time(iso: str | None, timezone: str) -> str | None:
    """An ISO instant as local time in the zone, with the zone's abbreviation."""
    from tapri_daemon import zones

    if iso is None:
        return None
    local = datetime.fromisoformat(iso).astimezone(zones.zone(timezone))
    return local.strftime("%a %Y-%m-%d %H:%M:%S %Z")


@click.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@global_options
@pass_context
def list_workflows(ctx: CliContext, as_json: bool) -> None:
    """Workflows like `systemctl list-timers`: next and last fire, and their state.

    LAST, PASSED and STATE come from the store, so they work with the daemon down.
    """
    from tapri_daemon.cli import define_views as views

    now = _now()
    loaded = load(ctx)
    rows = views.with_history(views.list_rows(loaded, now), _history(ctx, loaded), now)
    if as_json:
        echo_json(rows)
        return
    print_table([_timer_cells(row) for row in rows], views.TIMER_COLUMNS)


def _history(ctx: CliContext, loaded: Loaded) -> History:
    from tapri_daemon.cli.define_views import History

    async def use(store: SQLiteStore) -> History:
        fires = await store.last_fires()
        running: dict[str, int] = {}
        for run in await store.list_runs(states=(RunState.RUNNING,), limit=10_000):
            running[run.workflow] = running.get(run.workflow, 0) + 1
        last_state = {}
        for name in loaded.definitions.workflow:
            last = await store.list_runs(workflow=name, limit=1)
            if last:
                last_state[name] = str(last[0].state)
        return History(
            last_fire={name: fire.scheduled_for for name, fire in fires.items()},
            last_state=last_state,
            running=running,
            paused=frozenset(await store.paused()),
        )

    return read_store(ctx, use, History())


def _timer_cells(row: dict[str, Any]) -> dict[str, Any]:
    from tapri_daemon.cli.define_views import span

    return row | {
        "next_cell": _next_cell(row),
        "left": span(row["left_s"]) if row["left_s"] is not None else "-",
        "last_cell": _human_time(row["last_fire"], row["timezone"]) or "-",
        "passed": f"{span(row['passed_s'])} ago" if row["passed_s"] is not None else "-",
    }


def _next_cell(row: dict[str, Any]) -> str | None:
    when = _human_time(row["next_fire"], row["timezone"])
    if row["paused"]:
        return f"paused ({when})" if when else "paused"
    return when if row["schedule"] else "manual"


def _iso_option(_: click.Context, __: click.Parameter, value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not an ISO-8601 date or date-time (e.g. 2027-03-28T01:00+01:00)"
        ) from None


@click.command("next")
@click.argument("workflow_id", metavar="WORKFLOW")
@click.option("-n", "count", default=5, show_default=True, type=click.IntRange(min=1))
@click.option("--from", "start", callback=_iso_option, help="Start here (ISO-8601); default now.")
@click.option("--explain", is_flag=True, help="Also show skipped and moved fires, and why.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@global_options
@pass_context
def next_fires(
    ctx: CliContext,
    workflow_id: str,
    count: int,
    start: datetime | None,
    explain: bool,
    as_json: bool,
) -> None:
    """The next fire times of WORKFLOW."""
    from tapri_daemon.cli import define_views as views

    loaded = load(ctx)
    workflow = views.workflow_of(loaded, workflow_id)
    timezone = views.timezone_of(loaded, workflow)
    query = views.NextQuery(
        count=count, after=views.start_of_query(start, timezone, _now()), explain=explain
    )
    rows = views.next_rows(views.schedule_of(loaded, workflow), query, timezone)
    if as_json:
        echo_json(rows)
    elif not workflow.schedule:
        click.echo(f"{workflow_id} has no schedule: it runs only when triggered")
    else:
        _print_fires(workflow_id, timezone, rows)


def _print_fires(workflow_id: str, timezone: str, rows: list[dict[str, Any]]) -> None:
    shown = [
        {
            "at": _human_time(row["at"], timezone),
            "utc": datetime.fromisoformat(row["at"]).astimezone(UTC).strftime("%H:%M:%S"),
            "note": _fire_note(row, timezone),
        }
        for row in rows
    ]
    columns = (("at", f"FIRE TIME ({timezone})"), ("utc", "UTC"), ("note", "NOTE"))
    print_table(shown, columns, title=f"next fires of {workflow_id}")


def _fire_note(row: dict[str, Any], timezone: str) -> str:
    reason = str(row.get("reason", ""))
    if row.get("skipped"):
        return f"SKIPPED: {reason}"
    if "moved_from" in row:
        return f"moved from {_human_time(row['moved_from'], timezone)}: {reason}"
    return reason


@click.command()
@click.argument("workflow_id", metavar="WORKFLOW")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(GRAPH_FORMATS),
    default="text",
    show_default=True,
)
@click.option("--run", "run_id", help="Colour the tasks by their state in this run.")
@global_options
@pass_context
def graph(ctx: CliContext, workflow_id: str, fmt: str, run_id: str | None) -> None:
    """The task graph of WORKFLOW as text, Mermaid or Graphviz dot."""
    from tapri_daemon.cli import define_views as views
    from tapri_daemon.cli import graph_render

    loaded = load(ctx)
    workflow = views.workflow_of(loaded, workflow_id)
    states = _task_states(ctx, workflow_id, run_id) if run_id else None
    click.echo(graph_render.render(workflow_id, workflow, fmt, states))


def _task_states(ctx: CliContext, workflow_id: str, run_id: str) -> dict[str, str]:
    """Each task's state in a stored run of this workflow (NotFoundError otherwise)."""

    async def use(store: SQLiteStore) -> dict[str, str] | None:
        run = await store.get_run(run_id)
        if run is None or run.workflow != workflow_id:
            return None
        return {task.task_id: str(task.state) for task in await store.get_tasks(run_id)}

    states = read_store(ctx, use, None)
    if states is None:
        raise NotFoundError("run", run_id)
    return states


@click.command()
@click.argument("name")
@click.option("--year", type=int, help="Default: this year.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@global_options
@pass_context
def calendar(ctx: CliContext, name: str, year: int | None, as_json: bool) -> None:
    """Holidays (with names) and extra workdays of calendar NAME."""
    from tapri_daemon import zones
    from tapri_daemon.cli import define_views as views

    loaded = load(ctx)
    model = views.calendar_of(loaded, name)
    this_year = _now().astimezone(zones.zone(loaded.settings.default_timezone)).year
    data = views.calendar_data(name, model, year or this_year)
    if as_json:
        echo_json(data)
        return
    _print_calendar(data)


def _print_calendar(data: dict[str, Any]) -> None:
    source = " + ".join(
        f"{key} {data[key]}" for key in ("country", "subdiv", "market") if data[key]
    )
    title = f"calendar {data['calendar']} {data['year']} ({source or 'no holiday source'})"
    print_table(
        data["holidays"], (("date", "DATE"), ("weekday", "DAY"), ("name", "HOLIDAY")), title
    )
    click.echo(f"weekend: {_cell(data['weekend'])}")
    click.echo(f"extra workdays: {_cell([d['date'] for d in data['extra_workdays']])}")


@click.command()
@global_options
def schema() -> None:
    """The JSON Schema of config/tapri.toml and workflows.toml (for editors)."""
    from tapri_daemon.spec.schema import schema_text

    click.echo(schema_text())
