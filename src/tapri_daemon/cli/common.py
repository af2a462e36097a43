"""What every verb shares: the global flags and a lazily loaded context.

Global flags (`--config`, `--workflows`, `--state-dir`) go on the root group and on every
verb, so `tapri --config X list` and `tapri list --config X` both work.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from collections.abc import Awaitable

    from rich.console import Console

    from tapri_daemon.spec.load import Loaded, LoadedSettings
    from tapri_daemon.store.sqlite import SQLiteStore

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_NOT_RUNNING = 3
EXIT_CONFIG = 78


@dataclass
class CliContext:
    config: Path | None = None
    workflows: tuple[Path, ...] = ()
    state_dir: Path | None = None
    _cache: dict[str, Any] = field(default_factory=dict)

    def settings(self) -> LoadedSettings:
        if "settings" not in self._cache:
            from tapri_daemon.spec.load import load_settings

            self._cache["settings"] = load_settings(
                self.config, state_dir=self.state_dir, workflows=self.workflows or None
            )
        loaded: LoadedSettings = self._cache["settings"]
        return loaded

    def definitions(self) -> Loaded:
        """Load and validate every definition file; raises ConfigError (exit 78)."""
        if "definitions" not in self._cache:
            from tapri_daemon.spec.load import load_definitions

            settings = self.settings()
            self._cache["definitions"] = load_definitions(settings)
        loaded: Loaded = self._cache["definitions"]
        return loaded


def _remember(name: str) -> Callable[[click.Context, click.Parameter, Any], Any]:
    def callback(ctx: click.Context, _: click.Parameter, value: Any) -> Any:
        obj = ctx.ensure_object(CliContext)
        if value:
            setattr(
                obj, name, tuple(Path(v) for v in value) if name == "workflows" else Path(value)
            )
        return value

    return callback


def global_options(func: F) -> F:
    """--config, --workflows, --state-dir on a command; values land in the CliContext."""
    options = [
        click.option(
            "--config",
            type=click.Path(dir_okay=False),
            expose_value=False,
            envvar="TAPRI_CONFIG",
            callback=_remember("config"),
            help="Daemon settings file (default: $CONFIGURATION_DIRECTORY/tapri.toml, "
            "else ./config/tapri.toml).",
        ),
        click.option(
            "--workflows",
            type=click.Path(dir_okay=False),
            multiple=True,
            expose_value=False,
            callback=_remember("workflows"),
            help="Use these definition files instead of the config's list (repeatable).",
        ),
        click.option(
            "--state-dir",
            type=click.Path(file_okay=False),
            expose_value=False,
            envvar="TAPRI_STATE_DIR",
            callback=_remember("state_dir"),
            help="State directory holding the store (default from the config).",
        ),
    ]
    return functools.reduce(lambda f, opt: opt(f), reversed(options), func)


pass_context = click.make_pass_decorator(CliContext, ensure=True)


def echo_json(value: Any) -> None:
    click.echo(json.dumps(value, ensure_ascii=False, indent=2, default=str))


def environ() -> dict[str, str]:
    return dict(os.environ)


def read_store(ctx: CliContext, use: Callable[[SQLiteStore], Awaitable[T]], empty: T) -> T:
    """Run ``use`` on the store opened read-only; ``empty`` when there is no store yet."""
    import asyncio

    from tapri_daemon.store.sqlite import SQLiteStore

    path = ctx.settings().paths.db_path
    if not path.is_file():
        return empty

    async def main() -> T:
        async with SQLiteStore.open(path, readonly=True) as store:
            return await use(store)

    return asyncio.run(main())


PIPE_WIDTH = 200
"""Columns of tables written into a pipe or file: wide enough that nothing is cut."""


def console() -> Console:
    """A rich console: the terminal's width on a terminal, PIPE_WIDTH into a pipe or file."""
    from rich.console import Console as RichConsole

    width = None if sys.stdout.isatty() else PIPE_WIDTH
    return RichConsole(highlight=False, soft_wrap=False, width=width)
