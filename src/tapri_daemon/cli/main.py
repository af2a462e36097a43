"""`tapri`: the root click group. Each verb group lives in its own module."""

from __future__ import annotations

import sys

import click

from tapri_daemon import __version__
from tapri_daemon.cli import control, define, execute, report, runs
from tapri_daemon.cli.common import global_options
from tapri_daemon.errors import TapriError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="tapri")
@global_options
def cli() -> None:
    """tapri: Airflow's guarantees in one small daemon."""


for _module in (define, execute, runs, control, report):
    _module.register(cli)


def main() -> None:
    try:
        # Without standalone mode click returns ctx.exit(n)'s code instead of exiting.
        code = cli.main(standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        sys.exit(130)
    except TapriError as exc:
        click.echo(f"tapri: {exc.message}", err=True)
        sys.exit(exc.exit_code)
    sys.exit(code if isinstance(code, int) else 0)
