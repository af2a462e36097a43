"""The seams between tapri's layers, and the plain data that crosses them.

    Clock      now / monotonic / sleep_until   real: daemon.precise.PreciseClock,
                                                      clocks.SystemClock; fake: testing.FakeClock
    Executor   AttemptRequest -> AttemptResult real: executors.Dispatcher;
                                                      fake: testing.FakeExecutor(handler)
    Store      runs, tasks, attempts, fires    real: store.sqlite.SQLiteStore;
                                                      fake: store.memory.MemoryStore
    Notifier   Event -> delivered or logged    real: notify.Router; fake: testing.RecordingNotifier

Everything here is frozen, keyword-only data or a Protocol. Nothing here does I/O, and
this module imports nothing of tapri's except the model, so every layer can import it.
Times are aware datetimes in UTC unless a name says otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol, TypeAlias

from tapri_daemon.model import Task

JSON: TypeAlias = Any
"""A JSON-serialisable value (what json.dumps accepts)."""


class RunState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (RunState.SUCCESS, RunState.FAILED, RunState.CANCELLED)


class TaskState(StrEnum):
    PENDING = "pending"
    WAITING = "waiting"
    RUNNING = "running"
    UP_FOR_RETRY = "up_for_retry"
    SUCCESS = "success"
    FAILED = "failed"
    SKIPPED = "skipped"
    UPSTREAM_FAILED = "upstream_failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in _FINISHED_TASK_STATES


_FINISHED_TASK_STATES = frozenset(
    {
        TaskState.SUCCESS,
        TaskState.FAILED,
        TaskState.SKIPPED,
        TaskState.UPSTREAM_FAILED,
        TaskState.CANCELLED,
    }
)


class Outcome(StrEnum):
    SUCCESS = "success"
    FAILED = "failed"
    TIMEOUT = "timeout"
    CANCELLED = "cancelled"
    LOST = "lost"


class Trigger(StrEnum):
    """Why a run exists."""

    SCHEDULE = "schedule"
    CATCHUP = "catchup"
    MANUAL = "manual"
    RETRY = "retry"


@dataclass(frozen=True, kw_only=True)
class RunRecord:
    run_id: str
    workflow: str
    logical_date: datetime
    trigger: Trigger
    state: RunState
    params: Mapping[str, JSON] = field(default_factory=dict)
    queued_at: datetime
    started_at: datetime | None = None
    ended_at: datetime | None = None
    scheduled_for: datetime | None = None
    """The schedule instant this run serves (None for manual runs)."""
    reason: str | None = None
    daemon_id: str | None = None


@dataclass(frozen=True, kw_only=True)
class TaskRecord:
    run_id: str
    task_id: str
    state: TaskState
    attempts: int = 0
    output: JSON = None
    reason: str | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None


@dataclass(frozen=True, kw_only=True)
class AttemptRecord:
    run_id: str
    task_id: str
    attempt: int
    """1-based."""
    outcome: Outcome | None
    """None while the attempt runs."""
    started_at: datetime
    ended_at: datetime | None = None
    exit_code: int | None = None
    error: str | None = None
    pid: int | None = None
    pgid: int | None = None
    pid_start_time: int | None = None
    """The process start time in clock ticks since boot (/proc/PID/stat field 22)."""
    daemon_id: str | None = None
    log_path: str | None = None
    killed: int = 0
    """How many processes were killed to end this attempt."""
    fire_target_ns: int | None = None
    fire_actual_ns: int | None = None

    @property
    def lateness_us(self) -> float | None:
        if self.fire_target_ns is None or self.fire_actual_ns is None:
            return None
        return (self.fire_actual_ns - self.fire_target_ns) / 1000


class FireStatus(StrEnum):
    STARTED = "started"
    QUEUED = "queued"
    SKIPPED = "skipped"
    MISSED = "missed"


@dataclass(frozen=True, kw_only=True)
class FireRecord:
    workflow: str
    scheduled_for: datetime
    recorded_at: datetime
    status: FireStatus
    run_id: str | None = None
    missed_count: int = 0
    """For a catch-up fire: how many instants were missed since the last recorded fire."""


@dataclass(frozen=True, kw_only=True)
class DaemonRecord:
    """One daemon process that owned the store (a row of daemon_instances)."""

    daemon_id: str
    pid: int
    host: str
    started_at: datetime
    stopped_at: datetime | None = None
    config_digest: str | None = None


@dataclass(frozen=True, kw_only=True)
class WorkflowStats:
    """One workflow's runs inside a time window (what `tapri report` shows)."""

    workflow: str
    runs: int
    succeeded: int
    failed: int
    cancelled: int
    unfinished: int
    success_rate: float | None
    """succeeded / finished runs; None when no run finished."""
    duration_p50_s: float | None
    duration_p95_s: float | None
    duration_max_s: float | None
    retries: int
    """Attempts beyond each task's first."""
    lost_attempts: int
    late_fires: int
    """Precise attempts that started later than ``late_after`` past their fire instant."""
    lateness_p50_us: float | None
    lateness_p99_us: float | None
    lateness_max_us: float | None
    missed_fires: int
    """Schedule instants missed (fires with status missed, plus catch-up missed_count)."""
    last_run_at: datetime | None
    last_success_at: datetime | None


@dataclass(frozen=True, kw_only=True)
class RunInfo:
    """What a task sees of its run (``run`` in templates and python arguments)."""

    run_id: str
    workflow: str
    logical_date: datetime
    data_interval_start: datetime
    data_interval_end: datetime
    trigger: Trigger
    attempt: int
    timezone: str

    def as_dict(self) -> dict[str, JSON]:
        return {
            "run_id": self.run_id,
            "workflow": self.workflow,
            "logical_date": self.logical_date.isoformat(),
            "data_interval_start": self.data_interval_start.isoformat(),
            "data_interval_end": self.data_interval_end.isoformat(),
            "trigger": str(self.trigger),
            "attempt": self.attempt,
            "timezone": self.timezone,
        }


@dataclass(frozen=True, kw_only=True)
class AttemptRequest:
    """Everything an executor needs for one attempt; templates are already rendered."""

    task_id: str
    task: Task
    run: RunInfo
    attempt: int
    argv: tuple[str, ...] | None = None
    """command: the rendered argv; shell: ("/bin/sh", "-c", script)."""
    kwargs: Mapping[str, JSON] = field(default_factory=dict)
    """python: arguments by parameter name (params, outputs, run, and the args keys)."""
    sql: str | None = None
    sql_params: Mapping[str, JSON] = field(default_factory=dict)
    database_url: str | None = None
    http: Mapping[str, JSON] | None = None
    """http: the rendered request (url, method, headers, params, json, body, expect_status)."""
    env: Mapping[str, str] = field(default_factory=dict)
    """Extra environment with secrets already expanded (TAPRI_* are added by executors)."""
    secrets: Sequence[str] = ()
    """Values to mask in captured output."""
    cwd: str | None = None
    log_path: str
    timeout: float | None = None
    """Seconds; the executor ends the attempt with outcome TIMEOUT after it."""
    kill_grace: float = 10.0
    output_limit: int = 1 << 20
    log_limit: int = 10 << 20
    fire_at_ns: int | None = None
    """Precise fires (``at_fire`` tasks): the instant (time.time_ns scale) the task must not
    start before, passed as TAPRI_FIRE_AT_NS. The engine calls the executor *before* it: the
    executor prepares what it can (spawns an armed process, imports, connects), waits for
    the instant on its clock and releases the task then; an instant already past releases
    at once. See docs/executors.md, "Precise fires"."""
    python_path: Sequence[str] = ()


@dataclass(frozen=True, kw_only=True)
class ProcessInfo:
    """Reported by an executor as soon as a task process exists (for recovery)."""

    pid: int
    pgid: int
    start_time: int | None
    spawned_ns: int


@dataclass(frozen=True, kw_only=True)
class AttemptResult:
    outcome: Outcome
    output: JSON = None
    exit_code: int | None = None
    error: str | None = None
    started_ns: int
    """When the task's code began: the release stamp for a released precise fire."""
    ended_ns: int
    killed: int = 0
    process: ProcessInfo | None = None
    released_ns: int | None = None
    """Precise fires (``request.fire_at_ns`` set): the actual start, stamped by the task's
    own process (or coroutine) the moment it was released, just before it ran the task's
    code (exec, the function call, the request sent). None when the attempt ended before
    its release (it could not be prepared, or was cancelled while armed)."""


class Clock(Protocol):
    def now(self) -> datetime:
        """The wall-clock time, aware, in UTC."""
        ...

    def time_ns(self) -> int:
        """The wall-clock time in ns since the epoch."""
        ...

    def monotonic(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...

    async def sleep_until(self, instant: datetime) -> None:
        """Return at ``instant`` (wall clock) or as soon after it as possible; never before."""
        ...


class AttemptObserver(Protocol):
    """How an executor reports an attempt's processes, which its result cannot carry when
    the attempt is cancelled."""

    async def spawned(self, info: ProcessInfo) -> None:
        """A process of the attempt exists (before the attempt ends)."""

    def stopped(self, killed: int) -> None:
        """The attempt was cancelled and its processes stopped; ``killed`` were alive."""


class Executor(Protocol):
    async def execute(self, request: AttemptRequest, observer: AttemptObserver) -> AttemptResult:
        """Run one attempt. Timeouts end in Outcome.TIMEOUT; failures never raise.

        Cancellation (race lost, run cancelled) propagates after the executor has stopped
        everything it started (TERM, grace, KILL) inside a shielded scope.
        """
        ...


class Store(Protocol):
    """Durable state. Every awaited write is committed when it returns (group commit)."""

    async def save_run(self, run: RunRecord) -> None: ...

    async def save_task(self, task: TaskRecord) -> None: ...

    async def save_attempt(self, attempt: AttemptRecord) -> None: ...

    async def get_run(self, run_id: str) -> RunRecord | None: ...

    async def list_runs(
        self, *, workflow: str | None = None, states: Sequence[RunState] = (), limit: int = 50
    ) -> list[RunRecord]: ...

    async def get_tasks(self, run_id: str) -> list[TaskRecord]: ...

    async def get_attempts(
        self, run_id: str, task_id: str | None = None
    ) -> list[AttemptRecord]: ...

    async def record_fire(self, fire: FireRecord) -> bool:
        """Insert a fire; False if (workflow, scheduled_for) was recorded before."""
        ...

    async def update_fire(self, fire: FireRecord) -> None: ...

    async def last_fire(self, workflow: str) -> FireRecord | None: ...

    async def unfinished_runs(self) -> list[RunRecord]: ...

    async def running_attempts(self) -> list[AttemptRecord]: ...

    async def set_paused(self, workflow: str, paused: bool) -> None: ...

    async def paused(self) -> set[str]: ...

    async def delete_runs(self, run_ids: Sequence[str]) -> None: ...

    async def finished_runs_before(self, instant: datetime) -> list[RunRecord]: ...

    async def last_fires(self) -> dict[str, FireRecord]:
        """The latest fire of every workflow that has one."""
        ...

    async def run_stats(
        self,
        since: datetime,
        workflow: str | None = None,
        *,
        late_after: timedelta = timedelta(milliseconds=1),
    ) -> list[WorkflowStats]:
        """Per-workflow figures for runs queued at or after ``since``, sorted by workflow."""
        ...

    async def record_daemon(self, daemon: DaemonRecord) -> None:
        """Insert or update (by daemon_id) a daemon instance; set stopped_at when it stops."""
        ...

    async def daemon_instances(self, limit: int = 20) -> list[DaemonRecord]:
        """Newest first."""
        ...


class EventKind(StrEnum):
    RUN_FAILED = "run_failed"
    RUN_SUCCEEDED = "run_succeeded"
    RUN_RECOVERED = "run_recovered"
    TASK_RETRYING = "task_retrying"
    FIRE_LATE = "fire_late"
    DEADLINE_MISSED = "deadline_missed"
    FIRES_MISSED = "fires_missed"


@dataclass(frozen=True, kw_only=True)
class Event:
    """Something people may want to hear about."""

    kind: EventKind
    workflow: str
    at: datetime
    run_id: str | None = None
    task_id: str | None = None
    attempt: int | None = None
    reason: str | None = None
    details: Mapping[str, JSON] = field(default_factory=dict)
    """e.g. failed_tasks, log_tail, missed_count, lateness_us."""


class Notifier(Protocol):
    async def notify(self, event: Event) -> None:
        """Hand an event over; never blocks the caller on delivery, never raises."""
        ...
