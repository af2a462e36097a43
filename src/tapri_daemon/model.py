"""The validated definitions as frozen data: what a TOML file means, nothing about files.

Two documents exist. ``Settings`` is the daemon's own file (``config/tapri.toml``);
``Definitions`` is a workflows file (``workflows.toml`` and what it includes). Both are
pydantic v2 models that forbid unknown keys and are frozen, so a loaded definition can
be shared by the scheduler, the engine and the CLI without copies.

Field descriptions become the hover text of ``config/tapri.schema.json``.
"""

from __future__ import annotations

import re
import shlex
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
    model_validator,
)

from tapri_daemon import durations, zones

ID_PATTERN = r"^[a-z][a-z0-9_]*$"
_ID = re.compile(ID_PATTERN)
ID_RULE = (
    "ids start with a lowercase letter and contain only a-z, 0-9 and _, because they are "
    "used as file names, log fields and template names (outputs.<id>)"
)


def _check_id(value: str) -> str:
    if not _ID.match(value):
        raise ValueError(f'"{value}" is not a valid id: {ID_RULE}')
    return value


def _as_tuple(value: object) -> object:
    return (value,) if isinstance(value, str) else value


def _split_command(value: object) -> object:
    if not isinstance(value, str):
        return value
    try:
        words = shlex.split(value)
    except ValueError as exc:
        raise ValueError(f"cannot split the command like a shell would: {exc}") from None
    if not words:
        raise ValueError("the command is empty")
    return words


def _catchup(value: object) -> object:
    if value is True:
        return "all"
    if value is False:
        return "none"
    return value


def _deadline(value: object) -> object:
    if isinstance(value, str) and ":" in value:
        return time.fromisoformat(value)
    if isinstance(value, str):
        return durations.parse_duration(value)
    return value


Id = Annotated[str, AfterValidator(_check_id)]
Duration = Annotated[
    timedelta,
    BeforeValidator(durations.parse_duration),
    PlainSerializer(durations.format_duration, return_type=str),
    WithJsonSchema(
        {"type": "string", "pattern": durations.PATTERN, "examples": ["250ms", "90s", "1h30m"]}
    ),
]
Size = Annotated[
    int,
    BeforeValidator(durations.parse_size),
    WithJsonSchema({"type": ["integer", "string"], "examples": [1048576, "10MiB"]}),
]
TimezoneName = Annotated[
    str,
    AfterValidator(zones.check_timezone),
    WithJsonSchema({"type": "string", "examples": ["Asia/Kolkata", "UTC"]}),
]
Deadline = Annotated[
    timedelta | time,
    BeforeValidator(_deadline),
    PlainSerializer(
        lambda v: v.isoformat() if isinstance(v, time) else durations.format_duration(v),
        return_type=str,
    ),
    WithJsonSchema({"type": "string", "examples": ["5m", "15:55", "10:00:05"]}),
]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
TriggerRule = Literal[
    "all_success", "all_done", "all_failed", "one_success", "one_failed", "none_failed"
]
Language = Literal["en", "hi", "mr", "hinglish"]
TaskKind = Literal["command", "shell", "python", "sql", "http"]
TASK_KINDS: tuple[TaskKind, ...] = ("command", "shell", "python", "sql", "http")


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class NotifyRoutes(Model):
    """Which notifiers hear which events; task-level routes add to workflow-level ones."""

    on_failure: tuple[Id, ...] = ()
    on_retry: tuple[Id, ...] = ()
    on_success: tuple[Id, ...] = ()
    on_late: tuple[Id, ...] = ()
    on_missed: tuple[Id, ...] = ()
    on_recovered: tuple[Id, ...] = ()

    def all_names(self) -> set[str]:
        return {name for field in type(self).model_fields for name in getattr(self, field)}


class TaskDefaults(Model):
    """Task settings a workflow (or the whole file) sets once; Airflow's default_args."""

    retries: int | None = Field(None, ge=0, description="Extra attempts after a failure.")
    retry_delay: Duration | None = Field(None, description="Wait before the first retry.")
    retry_backoff: float | None = Field(
        None, ge=1.0, description="Delay multiplier per attempt; 1.0 keeps it fixed."
    )
    max_retry_delay: Duration | None = Field(None, description="Upper bound of a retry delay.")
    retry_jitter: bool | None = Field(
        None, description="Add up to 10% random jitter to retry delays (default true)."
    )
    retry_on_exit_codes: tuple[int, ...] | None = Field(
        None, description="Retry only these exit codes; other failures are final."
    )
    timeout: Duration | None = Field(None, description="Ends one attempt (outcome timeout).")
    kill_grace: Duration | None = Field(
        None, description="Between SIGTERM and SIGKILL when a task is stopped."
    )
    pool: Id | None = Field(None, description="A [pool.NAME] whose slots this task takes.")
    env: dict[str, str] | None = Field(
        None, description="Extra environment; values may use ${env:NAME} and ${cred:NAME}."
    )
    cwd: str | None = Field(None, description="Working directory of the task.")
    output_limit: Size | None = Field(None, description="Largest output (default 1MiB).")
    log_limit: Size | None = Field(None, description="Largest log per attempt (default 10MiB).")


class HttpRequest(Model):
    """An HTTP call made with httpx."""

    url: str
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"] = "GET"
    headers: dict[str, str] = {}
    params: dict[str, str] = {}
    json_body: Any = Field(None, alias="json", description="A JSON body.")
    body: str | None = Field(None, description="A text body (instead of json).")
    expect_status: tuple[int, ...] = Field((), description="Accepted statuses; empty = any 2xx.")


class Task(TaskDefaults):
    """One task: exactly one of command, shell, python, sql, http."""

    description: str = ""
    command: Annotated[tuple[str, ...] | None, BeforeValidator(_split_command)] = Field(
        None, description="argv list, or a string split like a shell would (never run by one)."
    )
    shell: str | None = Field(None, description="A script run by /bin/sh -c.")
    python: str | None = Field(
        None, pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$", description="module:function"
    )
    sql: str | None = Field(None, description="SQL run against `database`.")
    database: str | None = Field(None, description="A [database.NAME] or a URL.")
    http: HttpRequest | None = None
    args: dict[str, Any] = Field({}, description="Keyword arguments for a python task.")
    sql_params: dict[str, Any] = Field({}, description="Bound parameters of a sql task.")
    after: Annotated[tuple[Id, ...], BeforeValidator(_as_tuple)] = ()
    trigger: TriggerRule = "all_success"
    allow_failure: bool = Field(False, description="A failure does not fail the run.")
    at_fire: bool = Field(False, description="Precise workflows: wait for the fire instant.")
    fire_offset: Duration | None = Field(None, description="Start this long after the instant.")
    race: Id | None = Field(None, description="First success in a race cancels the others.")
    notify: NotifyRoutes = NotifyRoutes()
    deadline: Deadline | None = None
    deadline_action: Literal["alert", "cancel"] = "alert"

    @model_validator(mode="after")
    def _exactly_one_kind(self) -> Task:
        given = [kind for kind in TASK_KINDS if getattr(self, kind) is not None]
        if len(given) != 1:
            shown = ", ".join(given) if given else "none"
            raise ValueError(
                f"a task needs exactly one of command, shell, python, sql, http (given: {shown})"
            )
        if self.database is not None and self.sql is None:
            raise ValueError("`database` only goes with `sql`")
        return self

    @property
    def kind(self) -> TaskKind:
        return next(kind for kind in TASK_KINDS if getattr(self, kind) is not None)


class Workflow(Model):
    """A DAG of tasks with its schedule."""

    description: str = ""
    schedule: Annotated[tuple[str, ...], BeforeValidator(_as_tuple)] = Field(
        (),
        description="Cron (5 or 6 fields), @daily..., 'every 90s', or an ISO date-time. "
        "Absent: manual runs only.",
    )
    timezone: TimezoneName | None = Field(None, description="IANA zone; default: the daemon's.")
    calendar: Id | None = None
    on_holiday: Literal["skip", "next_business_day", "previous_business_day"] = "skip"
    catchup: Annotated[Literal["none", "latest", "all"], BeforeValidator(_catchup)] = "latest"
    start_date: datetime | date | None = None
    end_date: datetime | date | None = None
    max_active_runs: int = Field(1, ge=1)
    overlap: Literal["queue", "skip"] = "queue"
    max_active_tasks: int | None = Field(None, ge=1)
    timeout: Duration | None = Field(None, description="Cancels the whole run.")
    deadline: Deadline | None = None
    deadline_action: Literal["alert", "cancel"] = "alert"
    defaults: TaskDefaults = TaskDefaults()
    paused: bool = False
    precise: bool = Field(False, description="Precise-timing mode (Tatkal).")
    lead: Duration | None = Field(None, description="Precise: start the run this early (5s).")
    flow: Annotated[tuple[str, ...], BeforeValidator(_as_tuple)] = Field(
        (), description='Dependencies as "a >> [b, c] >> d".'
    )
    tags: tuple[str, ...] = ()
    params: dict[str, Any] = {}
    notify: NotifyRoutes = NotifyRoutes()
    task: dict[Id, Task] = Field(min_length=1)

    @property
    def effective_lead(self) -> timedelta:
        return self.lead if self.lead is not None else timedelta(seconds=5)


class Calendar(Model):
    """Working days: not a weekend day, not a holiday, or listed in extra_workdays."""

    description: str = ""
    country: str | None = Field(None, description="ISO country code for public holidays.")
    subdiv: str | None = Field(None, description="State/subdivision, e.g. MH.")
    market: str | None = Field(None, description="Exchange holidays: XNSE, XBOM.")
    weekend: tuple[Weekday, ...] = ("sat", "sun")
    extra_holidays: tuple[date, ...] = ()
    extra_workdays: tuple[date, ...] = ()


class Pool(Model):
    description: str = ""
    slots: int = Field(ge=1)


class Notifier(Model):
    urls: Annotated[tuple[str, ...], BeforeValidator(_as_tuple)] = Field(
        min_length=1, description="apprise URLs; ${env:NAME} / ${cred:NAME} expand at send time."
    )
    language: Language = "en"
    template: str | None = Field(None, description="jinja2 template overriding the default.")
    title: str | None = None
    min_interval: Duration | None = Field(None, description="Fold repeats inside this window.")
    timeout: Duration = Field(timedelta(seconds=10), description="Per delivery try.")
    retries: int = Field(2, ge=0)


class Database(Model):
    url: str = Field(description="sqlite:///path (relative to the workflows file) or a path.")


class Definitions(Model):
    """Everything in the workflows files, merged."""

    include: Annotated[tuple[str, ...], BeforeValidator(_as_tuple)] = Field(
        (), description="More definition files (globs, relative to this file)."
    )
    defaults: TaskDefaults = TaskDefaults()
    calendar: dict[Id, Calendar] = {}
    pool: dict[Id, Pool] = {}
    notifier: dict[Id, Notifier] = {}
    database: dict[Id, Database] = {}
    workflow: dict[Id, Workflow] = {}

    def task_settings(self, workflow_id: str, task_id: str) -> TaskSettings:
        wf = self.workflow[workflow_id]
        return TaskSettings.resolve(wf.task[task_id], wf.defaults, self.defaults)


class TaskSettings(Model):
    """A task's defaults resolved: task, then workflow defaults, then file defaults."""

    retries: int = 0
    retry_delay: timedelta = timedelta(seconds=30)
    retry_backoff: float = 1.0
    max_retry_delay: timedelta = timedelta(hours=1)
    retry_jitter: bool = True
    retry_on_exit_codes: tuple[int, ...] | None = None
    timeout: timedelta | None = None
    kill_grace: timedelta = timedelta(seconds=10)
    pool: str | None = None
    env: dict[str, str] = {}
    cwd: str | None = None
    output_limit: int = 1 << 20
    log_limit: int = 10 << 20

    @classmethod
    def resolve(cls, *layers: TaskDefaults) -> TaskSettings:
        chosen: dict[str, Any] = {}
        for name in cls.model_fields:
            for layer in layers:
                value = getattr(layer, name)
                if value is not None:
                    chosen[name] = value
                    break
        return cls(**chosen)


class DaemonSettings(Model):
    workflows: Annotated[tuple[str, ...], BeforeValidator(_as_tuple)] = Field(
        ("../workflows.toml",), description="Definition files or globs, relative to this file."
    )
    state_dir: str | None = Field(None, description="Default $STATE_DIRECTORY or .tapri/.")
    log_dir: str | None = Field(None, description="Default $LOGS_DIRECTORY or <state>/logs.")
    socket: str | None = Field(None, description="Default $RUNTIME_DIRECTORY/tapri.sock.")
    timezone: TimezoneName | None = Field(None, description="Default zone; default: system.")
    max_parallel_tasks: int = Field(32, ge=1)
    shutdown_grace: Duration = timedelta(seconds=30)
    log_format: Literal["auto", "json", "console"] = "auto"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_file: str | None = Field(None, description="Also write JSON logs here (rotated).")
    python_path: Annotated[tuple[str, ...], BeforeValidator(_as_tuple)] = ()
    clock_max_error: Duration = Field(
        timedelta(milliseconds=10), description="Warn when the kernel's clock error is larger."
    )
    watch: bool = Field(False, description="Reload when a definitions file changes.")


class MetricsSettings(Model):
    listen: str | None = Field(None, description='host:port, e.g. "127.0.0.1:9464".')


class Settings(Model):
    """The daemon's own file, config/tapri.toml."""

    daemon: DaemonSettings = DaemonSettings()
    metrics: MetricsSettings = MetricsSettings()
