"""`tapri` verbs of the control group: the daemon itself, and what talks to it.

    daemon [--watch]                        run the service in the foreground
    trigger WORKFLOW [--param k=v]... [--at ISO] [--wait] [--json]
    pause WORKFLOW / unpause WORKFLOW
    cancel RUN_ID
    reload [--wait]                         exit 78 with the located errors if rejected
    status [--json]
    print-unit                              the systemd unit, with this tapri's real path

Everything but `daemon` and `print-unit` goes through the control socket; with no daemon
listening they exit 3 with a clear message.
"""

from __future__ import annotations

import asyncio
import shutil
import sys
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import click

from tapri_daemon.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    CliContext,
    echo_json,
    global_options,
    pass_context,
)

UNIT_PLACEHOLDER = "/usr/local/bin/tapri"


def register(group: click.Group) -> None:
    """Add this module's verbs to the root group."""
    for command in (daemon, trigger, pause, unpause, cancel, reload, status, print_unit):
        group.add_command(command)


def _ask(ctx: CliContext, payload: dict[str, Any], timeout: float | None = 30.0) -> dict[str, Any]:
    """One request to the daemon; a refusal raises ControlError with the daemon's exit code."""
    from tapri_daemon.daemon.control import call

    socket_path = ctx.settings().paths.socket
    return asyncio.run(call(socket_path, payload, timeout))


@click.command()
@click.option("--watch", is_flag=True, help="Reload when a definitions file changes.")
@global_options
@pass_context
def daemon(ctx: CliContext, watch: bool) -> None:
    """Run the scheduler service in the foreground (systemd runs exactly this)."""
    from tapri_daemon.daemon.service import Options, run

    options = Options(
        config=ctx.config, state_dir=ctx.state_dir, workflows=ctx.workflows, watch=watch
    )
    sys.exit(run(options))


@click.command()
@click.argument("workflow")
@click.option("--param", "params", multiple=True, metavar="K=V", help="Override a parameter.")
@click.option("--at", "at", metavar="ISO", help="Run at this instant (precise: fire instant).")
@click.option("--wait", is_flag=True, help="Wait for the run to end; exit 0 only on success.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@global_options
@pass_context
def trigger(
    ctx: CliContext,
    workflow: str,
    params: tuple[str, ...],
    at: str | None,
    wait: bool,
    as_json: bool,
) -> None:
    """Start a manual run of WORKFLOW through the daemon."""
    from tapri_daemon.engine.params import parse_assignments

    payload = {
        "verb": "trigger",
        "workflow": workflow,
        "params": parse_assignments(params),
        "at": _iso(at),
        "wait": wait,
    }
    answer = _ask(ctx, payload, None if wait else 30.0)
    run_id = answer["run_id"]
    if not wait:
        echo_json({"run_id": run_id}) if as_json else click.echo(run_id)
        return
    document = _run_document(ctx, run_id)
    if as_json:
        echo_json(document)
    else:
        click.echo(f"{run_id} {document['state']}")
    sys.exit(EXIT_OK if document["state"] == "success" else EXIT_FAILED)


def _iso(text: str | None) -> str | None:
    if text is None:
        return None
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(
            f"{text!r} is not an ISO-8601 date-time", param_hint="--at"
        ) from None
    return (at if at.tzinfo else at.astimezone()).astimezone(UTC).isoformat()


def _run_document(ctx: CliContext, run_id: str) -> dict[str, Any]:
    """The same document as `tapri run --json`, read from the store."""
    from tapri_daemon.errors import NotFoundError
    from tapri_daemon.store.sqlite import SQLiteStore
    from tapri_daemon.views.documents import run_document

    async def read() -> dict[str, Any]:
        async with SQLiteStore.open(ctx.settings().paths.db_path, readonly=True) as store:
            run = await store.get_run(run_id)
            if run is None:
                raise NotFoundError("run", run_id)
            return run_document(run, await store.get_tasks(run_id))

    return asyncio.run(read())


@click.command()
@click.argument("workflow")
@global_options
@pass_context
def pause(ctx: CliContext, workflow: str) -> None:
    """Stop scheduling WORKFLOW (survives reloads and restarts)."""
    _ask(ctx, {"verb": "pause", "workflow": workflow})
    click.echo(f"{workflow} paused")


@click.command()
@click.argument("workflow")
@global_options
@pass_context
def unpause(ctx: CliContext, workflow: str) -> None:
    """Schedule WORKFLOW again."""
    answer = _ask(ctx, {"verb": "unpause", "workflow": workflow})
    if answer.get("paused"):
        click.echo(f"{workflow} is still paused: its definition says paused = true")
    else:
        click.echo(f"{workflow} unpaused")


@click.command()
@click.argument("run_id")
@global_options
@pass_context
def cancel(ctx: CliContext, run_id: str) -> None:
    """Cancel a running or queued run (its tasks get SIGTERM, then SIGKILL)."""
    _ask(ctx, {"verb": "cancel", "run_id": run_id})
    click.echo(f"{run_id} cancelling")


@click.command()
@click.option("--wait", is_flag=True, help="Wait for the result; exit 78 if rejected.")
@global_options
@pass_context
def reload(ctx: CliContext, wait: bool) -> None:
    """Re-read the definitions; invalid ones are rejected and the old ones keep running."""
    answer = _ask(ctx, {"verb": "reload", "wait": wait}, None if wait else 30.0)
    if not wait:
        click.echo("reload requested")
        return
    diff = answer.get("diff") or {}
    changes = ", ".join(f"{k}: {', '.join(v)}" for k, v in diff.items() if v)
    click.echo(f"reloaded ({changes or 'no workflow changed'})")


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@global_options
@pass_context
def status(ctx: CliContext, as_json: bool) -> None:
    """The daemon's pid, uptime, config digest, last reload and running runs."""
    answer = _ask(ctx, {"verb": "status"})
    answer.pop("ok", None)
    if as_json:
        echo_json(answer)
        return
    for line in _status_lines(answer):
        click.echo(line)


def _status_lines(answer: dict[str, Any]) -> list[str]:
    reload_ = answer.get("last_reload") or {}
    reload_text = (
        "never"
        if not reload_.get("at")
        else (f"{'ok' if reload_.get('ok') else 'REJECTED'} at {reload_['at']}")
    )
    lines = [
        f"pid          {answer['pid']}",
        f"uptime       {answer['uptime_s']:.0f} s",
        f"config       {answer['config_digest']}",
        f"last reload  {reload_text}",
        f"workflows    {answer['workflows']} (paused: {', '.join(answer['paused']) or 'none'})",
        f"running      {', '.join(answer['running']) or 'none'}",
    ]
    for name, at in answer.get("next_fires", {}).items():
        lines.append(f"next         {name} at {at}")
    return lines


@click.command("print-unit")
def print_unit() -> None:
    """Print the systemd unit for this installation (tapri's real path filled in)."""
    click.echo(unit_text(), nl=False)


def unit_text() -> str:
    template = resources.files("tapri_daemon.daemon").joinpath("tapri.service").read_text()
    return template.replace(UNIT_PLACEHOLDER, str(tapri_path()))


def tapri_path() -> Path:
    """The `tapri` next to this interpreter (a venv), else the one on PATH."""
    beside = Path(sys.executable).parent / "tapri"
    if beside.is_file():
        return beside.absolute()
    found = shutil.which("tapri")
    return Path(found).absolute() if found else Path(UNIT_PLACEHOLDER)
