"""The daemon settings file (config/tapri.toml) -> Settings, Paths and the definition files.

Where things live, first match wins:

    config file    --config, else $CONFIGURATION_DIRECTORY/tapri.toml, else ./config/tapri.toml
                   if it exists, else none (all defaults, base dir = working directory)
    state_dir      --state-dir, else [daemon].state_dir, else $STATE_DIRECTORY,
                   else <base_dir>/.tapri
    log_dir        [daemon].log_dir, else $LOGS_DIRECTORY, else <state_dir>/logs
    socket         [daemon].socket, else $RUNTIME_DIRECTORY/tapri.sock, else <state_dir>/tapri.sock
    workflows      --workflows, else [daemon].workflows (globs), else ./workflows.toml
    timezone       [daemon].timezone, else $TZ, /etc/timezone, the /etc/localtime link, "UTC"

Relative paths in the file resolve against the file's folder (``base_dir``); the loaded
``Settings`` carry ``python_path`` and ``log_file`` already made absolute. systemd's
directory variables may list several folders separated by ":"; the first one is used.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from tapri_daemon import zones
from tapri_daemon.errors import ConfigError, TimezoneError
from tapri_daemon.model import Settings
from tapri_daemon.spec.pieces import validate_settings
from tapri_daemon.spec.source import Source, read_source

CONFIG_NAME = "tapri.toml"
DEFAULT_WORKFLOWS = "workflows.toml"


@dataclass(frozen=True, kw_only=True)
class Paths:
    config_file: Path | None
    base_dir: Path
    state_dir: Path
    log_dir: Path
    socket: Path
    db_path: Path
    lock_path: Path


@dataclass(frozen=True, kw_only=True)
class LoadedSettings:
    settings: Settings
    paths: Paths
    workflow_files: tuple[Path, ...]
    default_timezone: str


def load_settings(
    config: Path | None,
    *,
    state_dir: Path | None = None,
    workflows: Sequence[Path] | None = None,
    environ: Mapping[str, str] | None = None,
) -> LoadedSettings:
    """Read the settings file (if any) and work out every path; ConfigError if it is bad."""
    env = os.environ if environ is None else environ
    config_file = _config_file(config, env)
    base_dir = config_file.parent if config_file else Path.cwd()
    settings = _resolved(_read_settings(config_file), base_dir) if config_file else Settings()
    paths = _paths(settings, config_file, base_dir, _absolute(state_dir), env)
    return LoadedSettings(
        settings=settings,
        paths=paths,
        workflow_files=_workflow_files(settings, config_file, base_dir, workflows),
        default_timezone=settings.daemon.timezone or system_timezone(env),
    )


def resolve(path: Path, base: Path) -> Path:
    """``path`` made absolute against ``base`` and normalised (no "..")."""
    return Path(os.path.normpath(base / path.expanduser()))


def _absolute(path: Path | None, base: Path | None = None) -> Path | None:
    return None if path is None else resolve(path, base or Path.cwd())


def _first_dir(env: Mapping[str, str], name: str) -> Path | None:
    value = env.get(name, "").split(":")[0]
    return Path(value) if value else None


def _config_file(config: Path | None, env: Mapping[str, str]) -> Path | None:
    if config is not None:
        return _absolute(config)
    directory = _first_dir(env, "CONFIGURATION_DIRECTORY")
    if directory is not None:
        return resolve(directory / CONFIG_NAME, Path.cwd())
    local = Path.cwd() / "config" / CONFIG_NAME
    return local if local.is_file() else None


def _read_settings(path: Path) -> Settings:
    source = read_source(path)
    if not isinstance(source, Source):
        raise ConfigError([source])
    result = validate_settings(source)
    if isinstance(result, list):
        raise ConfigError(result)
    return result


def _resolved(settings: Settings, base_dir: Path) -> Settings:
    """python_path and log_file made absolute (against the settings file's folder)."""
    daemon = settings.daemon
    update = {
        "python_path": tuple(str(resolve(Path(p), base_dir)) for p in daemon.python_path),
        "log_file": str(resolve(Path(daemon.log_file), base_dir)) if daemon.log_file else None,
    }
    return settings.model_copy(update={"daemon": daemon.model_copy(update=update)})


def _paths(
    settings: Settings,
    config_file: Path | None,
    base_dir: Path,
    state_override: Path | None,
    env: Mapping[str, str],
) -> Paths:
    daemon = settings.daemon

    def pick(configured: str | None, variable: str) -> Path | None:
        if configured:
            return _absolute(Path(configured), base_dir)
        return _absolute(_first_dir(env, variable), base_dir)

    state = state_override or pick(daemon.state_dir, "STATE_DIRECTORY") or base_dir / ".tapri"
    runtime = pick(None, "RUNTIME_DIRECTORY")
    socket = _absolute(Path(daemon.socket), base_dir) if daemon.socket else None
    return Paths(
        config_file=config_file,
        base_dir=base_dir,
        state_dir=state,
        log_dir=pick(daemon.log_dir, "LOGS_DIRECTORY") or state / "logs",
        socket=socket or (runtime or state) / "tapri.sock",
        db_path=state / "tapri.sqlite3",
        lock_path=state / "tapri.lock",
    )


def _workflow_files(
    settings: Settings,
    config_file: Path | None,
    base_dir: Path,
    override: Sequence[Path] | None,
) -> tuple[Path, ...]:
    if override:
        return tuple(p for path in override for p in expand(str(path), Path.cwd()))
    patterns = settings.daemon.workflows if config_file else (DEFAULT_WORKFLOWS,)
    return tuple(p for pattern in patterns for p in expand(pattern, base_dir))


def expand(pattern: str, base_dir: Path) -> list[Path]:
    """A glob's matches (sorted), or a plain path as itself even when it does not exist."""
    full = resolve(Path(pattern), base_dir)
    if not glob.has_magic(pattern):
        return [full]
    return sorted(Path(p) for p in glob.glob(str(full), recursive=True) if Path(p).is_file())


def system_timezone(environ: Mapping[str, str], etc: Path = Path("/etc")) -> str:
    """The system's IANA zone: $TZ, /etc/timezone, the /etc/localtime link; else UTC."""
    for candidate in (
        environ.get("TZ", "").removeprefix(":"),
        _read_text(etc / "timezone"),
        _link_zone(etc / "localtime"),
    ):
        if candidate and _is_zone(candidate):
            return candidate
    return "UTC"


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return ""


def _link_zone(path: Path) -> str:
    try:
        target = os.readlink(path)
    except OSError:
        return ""
    _, marker, zone = target.partition("zoneinfo/")
    return zone if marker else ""


def _is_zone(name: str) -> bool:
    try:
        zones.check_timezone(name)
    except TimezoneError:
        return False
    return True
