"""Structured logs: structlog configuration and the stable event vocabulary.

Every event tapri logs is one of the names below (documented in docs/logging.md). Events
about a run carry ``workflow`` and ``run_id``; events about a task also carry ``task_id``
and ``attempt``. JSON lines go to stdout when it is not a TTY; a TTY gets console colours.
Standard-library loggers (apscheduler, aiosqlite, httpx) are rendered the same way, so
every line on stdout is one valid JSON object whatever a task printed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import logging.handlers
import os
import sys
import threading
from collections.abc import Callable, MutableMapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final, Literal, TextIO

import structlog

# The vocabulary. Renaming one of these is a breaking change for people's log queries.
RUN_QUEUED: Final = "run.queued"
RUN_STARTED: Final = "run.started"
RUN_FINISHED: Final = "run.finished"
RUN_CANCELLED: Final = "run.cancelled"
RUN_RECOVERED: Final = "run.recovered"
TASK_STARTED: Final = "task.started"
TASK_WAITING: Final = "task.waiting"
TASK_FIRED: Final = "task.fired"
TASK_RETRYING: Final = "task.retrying"
TASK_FINISHED: Final = "task.finished"
TASK_SKIPPED: Final = "task.skipped"
TASK_LOST: Final = "task.lost"
TASK_KILLED: Final = "task.killed"
EXECUTOR_ERROR: Final = "executor.error"
RELAY_STARTED: Final = "relay.started"
RELAY_LOST: Final = "relay.lost"
FIRE_LATE: Final = "fire.late"
FIRE_RECORDED: Final = "fire.recorded"
FIRE_SKIPPED: Final = "fire.skipped"
FIRE_QUEUED: Final = "fire.queued"
SCHEDULE_MISSED: Final = "schedule.missed"
DEADLINE_MISSED: Final = "deadline.missed"
CLOCK_JUMPED: Final = "clock.jumped"
CLOCK_UNSYNCHRONISED: Final = "clock.unsynchronised"
CONFIG_LOADED: Final = "config.loaded"
CONFIG_REJECTED: Final = "config.rejected"
CONFIG_RELOADED: Final = "config.reloaded"
DAEMON_STARTED: Final = "daemon.started"
DAEMON_READY: Final = "daemon.ready"
DAEMON_STOPPING: Final = "daemon.stopping"
DAEMON_STOPPED: Final = "daemon.stopped"
RECOVERY_FINISHED: Final = "recovery.finished"
NOTIFY_SENT: Final = "notify.sent"
NOTIFY_FAILED: Final = "notify.failed"
NOTIFY_FOLDED: Final = "notify.folded"
CONTROL_REQUEST: Final = "control.request"

VOCABULARY: Final = frozenset(
    v for k, v in dict(globals()).items() if k.isupper() and isinstance(v, str) and "." in v
)

_LEVELS = {"debug": 10, "info": 20, "warning": 30, "warn": 30, "error": 40, "critical": 50}
_SYSLOG = {"debug": 7, "info": 6, "warning": 4, "warn": 4, "error": 3, "critical": 2}

Format = Literal["auto", "json", "console"]
EventDict = MutableMapping[str, Any]


def get_logger(name: str = "tapri") -> Any:
    """A structlog logger; bind workflow/run_id/task_id/attempt on it."""
    return structlog.get_logger(name)


def _journal_prefix(_: Any, __: str, event: EventDict) -> EventDict:
    event["_syslog"] = _SYSLOG.get(str(event.get("level", "info")), 6)
    return event


class _JournalRenderer:
    """Prefix a rendered JSON line with <N> so journald knows its priority."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def __call__(self, logger: Any, name: str, event: EventDict) -> str:
        level = event.pop("_syslog", 6)
        return f"<{level}>{self.inner(logger, name, event)}"


def _merge_contextvars(logger: Any, name: str, event: EventDict) -> EventDict:
    """structlog's ``merge_contextvars``, skipped while nothing was ever bound.

    The full merge copies the whole context (asyncio's, anyio's variables too) for every
    event; structlog registers each variable it binds, so an empty registry means there
    is nothing to merge.
    """
    if getattr(structlog.contextvars, "_CONTEXT_VARS", True):
        return structlog.contextvars.merge_contextvars(logger, name, event)
    return event


def _shared_processors() -> list[Any]:
    """For records of standard-library loggers (``ProcessorFormatter.foreign_pre_chain``)."""
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
        structlog.processors.format_exc_info,
        structlog.processors.UnicodeDecoder(),
    ]


_METHOD_LEVEL = {"warn": "warning", "exception": "error"}


def _stamp(logger: Any, name: str, event: EventDict) -> EventDict:
    """``add_log_level``, ``add_logger_name`` and ``TimeStamper("iso", utc=True)`` in one."""
    event["level"] = _METHOD_LEVEL.get(name, name)
    event["logger"] = logger.name
    event["timestamp"] = datetime.now(tz=UTC).isoformat().replace("+00:00", "Z")
    return event


_STACK_INFO = structlog.processors.StackInfoRenderer()


def _stack_and_exception(logger: Any, name: str, event: EventDict) -> EventDict:
    """``StackInfoRenderer`` and ``format_exc_info``, called only when they have work."""
    if "stack_info" in event:
        event = _STACK_INFO(logger, name, event)
    if "exc_info" in event:
        event = structlog.processors.format_exc_info(logger, name, event)
    return event


def _own_processors() -> list[Any]:
    """For tapri's own events: the same fields as ``_shared_processors``, fewer calls."""
    return [
        _merge_contextvars,
        _stamp,
        _stack_and_exception,
        structlog.processors.UnicodeDecoder(),
    ]


class _Dumps:
    """``json.dumps`` with its encoder built once (json builds one per call given options)."""

    def __init__(self) -> None:
        self._encode: Callable[[Any], str] | None = None

    def __call__(self, value: Any, **options: Any) -> str:
        if self._encode is None:
            self._encode = json.JSONEncoder(**options).encode
        return self._encode(value)


def _json_renderer() -> Any:
    return structlog.processors.JSONRenderer(serializer=_Dumps(), ensure_ascii=False)


def _renderer(fmt: Format, journal: bool) -> Any:
    use_console = fmt == "console" or (fmt == "auto" and sys.stdout.isatty())
    if use_console:
        return structlog.dev.ConsoleRenderer(colors=sys.stdout.isatty())
    json_renderer = _json_renderer()
    return _JournalRenderer(json_renderer) if journal else json_renderer


def _file_handler(path: str, level: int) -> logging.Handler:
    handler = logging.handlers.RotatingFileHandler(path, maxBytes=50 << 20, backupCount=5)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=_shared_processors(),
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                _json_renderer(),
            ],
        )
    )
    handler.setLevel(level)
    return handler


Observer = Callable[[EventDict], None]
"""Sees every tapri event of level info and above, whatever the configured level."""


def _observing(observers: Sequence[Observer]) -> Any:
    def processor(_: Any, __: str, event: EventDict) -> EventDict:
        for observe in observers:
            with contextlib.suppress(Exception):  # an observer never breaks logging
                observe(event)
        return event

    return processor


def _level_gate(numeric: int) -> Any:
    def processor(_: Any, __: str, event: EventDict) -> EventDict:
        if _LEVELS.get(str(event.get("level", "info")), 20) < numeric:
            raise structlog.DropEvent
        return event

    return processor


def _hand_over(_: Any, __: str, event: EventDict) -> tuple[tuple[EventDict], dict[str, Any]]:
    """The last processor: the event goes to ``_Lines`` as it is, rendered there."""
    return (event,), {}


class _Stream:
    """The stdout handler's stream, written under the handler's lock and flushed once per
    event-loop iteration.

    The lock is the one standard-library records take too, so lines from threads never
    interleave. A line logged on an event loop is flushed by a callback at the end of
    that loop iteration, together with the lines logged after it meanwhile: it reaches
    ``tail -f`` and journald within the iteration that logged it, and a burst of lines
    costs one write instead of one each (each write lets the store's threads take the
    GIL). Off a loop (threads, start-up) every line is flushed at once. Like a handler,
    a stream that fails never raises into the caller.
    """

    __slots__ = ("_handler", "_lock", "_pending")

    def __init__(self, handler: logging.StreamHandler[TextIO]) -> None:
        self._handler = handler
        self._lock = handler.lock or threading.RLock()
        self._pending: asyncio.AbstractEventLoop | None = None

    def write(self, line: str) -> None:
        with self._lock:
            try:
                self._handler.stream.write(line)
            except Exception:  # a closed or broken stream must not break the engine
                return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.flush()
            return
        pending = self._pending
        if pending is loop:
            return
        if pending is not None and not pending.is_closed():
            self.flush()  # another loop's flush is pending: do not wait for it
            return
        self._pending = loop
        loop.call_soon(self.flush)

    def flush(self) -> None:
        self._pending = None
        with self._lock, contextlib.suppress(Exception):
            self._handler.stream.flush()


class _Lines:
    """Where tapri's own events end: rendered and written to the root handlers' streams.

    The same processors and renderers as the standard-library path, without its round
    trip (a LogRecord, Logger.handle, ProcessorFormatter) and without its caller-frame
    walk: the logger's name is known. The log file (if any) still goes through its
    handler, which rotates it.
    """

    __slots__ = ("_file", "_render", "_stream", "name")

    def __init__(
        self,
        name: str,
        stream: _Stream,
        render: Callable[[Any, str, EventDict], str],
        file: logging.Handler | None,
    ) -> None:
        self.name = name
        self._stream = stream
        self._render = render
        self._file = file

    def msg(self, event: EventDict) -> None:
        if self._file is not None:
            self._to_file(event)
        self._stream.write(self._render(self, "", event) + "\n")

    debug = info = warning = warn = error = err = critical = fatal = exception = msg

    def _to_file(self, event: EventDict) -> None:
        """As a standard-library record made by ``ProcessorFormatter.wrap_for_formatter``."""
        assert self._file is not None
        name = str(event.get("level", "info"))
        level = _LEVELS.get(name, 20)
        if level < self._file.level:
            return
        plain = {k: v for k, v in event.items() if k != "_syslog"}  # the prefix is stdout's
        record = logging.LogRecord(self.name, level, "", 0, plain, (), None)
        record.__dict__.update(_logger=self, _name=name)
        self._file.handle(record)


def configure(
    fmt: Format = "auto",
    level: str = "info",
    log_file: str | None = None,
    observers: Sequence[Observer] = (),
    stream: TextIO | None = None,
) -> None:
    """Route structlog and stdlib logging to one stdout handler (and an optional file).

    ``stream`` replaces stdout (``tapri run --json`` logs to stderr to keep stdout clean).

    ``observers`` (e.g. ``metrics.Metrics.observe``) see every event at info and above
    before the level filter, so metrics keep counting when the log level is "warning".

    tapri's own events are rendered by structlog and written directly (``_Lines``), and
    flushed once per event-loop iteration (``_Stream``); standard-library loggers
    (apscheduler, aiosqlite, ...) go through the same handler with a
    ``ProcessorFormatter``: both come out in the same format.
    """
    journal = bool(os.environ.get("JOURNAL_STREAM")) and fmt != "console"
    numeric = _LEVELS[level]
    journal_step = [_journal_prefix] if journal else []
    pre = [*_shared_processors(), *journal_step]
    watch = [_observing(observers), _level_gate(numeric)] if observers else []
    renderer = _renderer(fmt, journal)
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=pre,
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    file = _file_handler(log_file, numeric) if log_file else None
    out = _Stream(handler)
    structlog.configure(
        processors=[*_own_processors(), *journal_step, *watch, _hand_over],
        logger_factory=lambda name="tapri", *_: _Lines(name, out, renderer, file),
        wrapper_class=structlog.make_filtering_bound_logger(
            min(numeric, _LEVELS["info"]) if observers else numeric
        ),
        cache_logger_on_first_use=False,
    )
    root = logging.getLogger()
    root.handlers[:] = [handler, *([file] if file else [])]
    root.setLevel(numeric)
    for noisy in ("apscheduler", "aiosqlite", "httpx", "httpcore", "asyncio"):
        logging.getLogger(noisy).setLevel(max(numeric, logging.WARNING))
