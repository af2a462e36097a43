"""Every error tapri raises on purpose. One root; each subclass builds its own message.

    TapriError                      exit_code 1
    ├── ConfigError                 exit_code 78 (EX_CONFIG): a list of located Problems
    ├── DefinitionError             a value in a definition is wrong (no location yet;
    │   │                           the loader turns it into a located Problem)
    │   ├── DurationError           "90" or "5 minutes" where "90s" / "5m" was meant
    │   ├── TimezoneError           "IST" or "asia/kolkata" where an IANA name was meant
    │   ├── ScheduleError           a cron field out of range, a cron that never fires
    │   ├── FlowError               "a >> >> b" or an unknown name inside a flow string
    │   └── GraphError              a cycle (with its path) or a dependency on nothing
    ├── TemplateError               a template that does not parse or render
    ├── SecretError                 ${env:X} / ${cred:X} that cannot be resolved
    ├── NotFoundError               a workflow, run, task or calendar that is not there
    ├── StoreError                  the SQLite store cannot be used
    │   └── StateDirLockedError     another daemon holds the state dir
    ├── ControlError                the daemon refused or failed a control request
    │   └── DaemonNotRunningError   exit_code 3: nothing listens on the control socket
    ├── NotifyError                 a notification could not be delivered
    └── MetricsError                [metrics] is enabled but cannot be served

Callers catch ``TapriError`` at the composition roots (CLI, daemon) and turn it into a
message and ``exit_code``; nothing below them prints.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

EX_CONFIG = 78


class TapriError(Exception):
    """Root of every error tapri raises on purpose."""

    exit_code: int = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def suggest(word: str, candidates: Iterable[str]) -> str:
    """Return ' (did you mean "x"?)' for the closest candidate, or ''."""
    pool = list(candidates)
    lowered = {c.lower(): c for c in pool}
    if word.lower() in lowered and lowered[word.lower()] != word:
        return f' (did you mean "{lowered[word.lower()]}"?)'
    close = difflib.get_close_matches(word, pool, n=1, cutoff=0.6)
    return f' (did you mean "{close[0]}"?)' if close else ""


@dataclass(frozen=True, kw_only=True)
class Problem:
    """One located problem in a definition file."""

    file: str
    line: int | None
    col: int | None
    key: str
    message: str
    severity: Literal["error", "warning"] = "error"

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}" + (f":{self.col}" if self.col is not None else "")
        tag = "warning: " if self.severity == "warning" else ""
        key = f"{self.key}: " if self.key else ""
        return f"{where}: {tag}{key}{self.message}"


class ConfigError(TapriError):
    """One or more located problems; the message lists every one, a line each."""

    exit_code = EX_CONFIG

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class DefinitionError(TapriError, ValueError):
    """A value in a definition is wrong; the loader adds file, line and key.

    It is also a ValueError so that pydantic validators collect it with the others.
    """


class DurationError(DefinitionError):
    def __init__(self, value: object) -> None:
        self.value = value
        super().__init__(
            f"{value!r} is not a duration: write a number with a unit, "
            'e.g. "250ms", "90s", "2m", "1h30m", "1d"'
        )

    @classmethod
    def for_size(cls, value: object) -> DefinitionError:
        return DefinitionError(
            f'{value!r} is not a size: write bytes or a number with a unit, e.g. "512KiB", "10MiB"'
        )


class TimezoneError(DefinitionError):
    def __init__(self, value: str, suggestion: str | None) -> None:
        self.value = value
        self.suggestion = suggestion
        hint = f' (did you mean "{suggestion}"?)' if suggestion else ""
        super().__init__(f'"{value}" is not an IANA time zone name such as "Asia/Kolkata"{hint}')


class ScheduleError(DefinitionError):
    """A schedule expression is wrong; without an expression, the rest of a workflow's
    schedule settings (start/end dates, its calendar) are."""

    def __init__(self, expression: str, reason: str) -> None:
        self.expression = expression
        self.reason = reason
        super().__init__(f'schedule "{expression}": {reason}' if expression else reason)


class FlowError(DefinitionError):
    def __init__(self, flow: str, reason: str) -> None:
        self.flow = flow
        self.reason = reason
        super().__init__(f'flow "{flow}": {reason}')


class GraphError(DefinitionError):
    """A problem with the shape of a workflow's task graph."""


class CycleError(GraphError):
    def __init__(self, path: Sequence[str]) -> None:
        self.path = tuple(path)
        super().__init__("dependency cycle: " + " -> ".join(self.path))


class UnknownTaskError(GraphError):
    def __init__(self, task: str, missing: str, known: Iterable[str]) -> None:
        self.task = task
        self.missing = missing
        super().__init__(
            f'task "{task}" depends on unknown task "{missing}"{suggest(missing, known)}'
        )


class TemplateError(TapriError):
    def __init__(self, template: str, reason: str) -> None:
        self.template = template
        self.reason = reason
        super().__init__(f"template {template!r}: {reason}")


class SecretError(TapriError):
    def __init__(self, reference: str, reason: str) -> None:
        self.reference = reference
        super().__init__(f"{reference}: {reason}")


class NotFoundError(TapriError):
    def __init__(self, kind: str, name: str, known: Iterable[str] = ()) -> None:
        self.kind = kind
        self.name = name
        super().__init__(f'no {kind} "{name}"{suggest(name, known)}')


class StoreError(TapriError):
    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        super().__init__(f"store {path}: {reason}")


class StateDirLockedError(StoreError):
    def __init__(self, path: str, holder: str) -> None:
        super().__init__(path, f"locked by another tapri daemon ({holder})")


class ControlError(TapriError):
    def __init__(self, verb: str, reason: str, exit_code: int = 1) -> None:
        self.verb = verb
        self.exit_code = exit_code
        super().__init__(f"{verb}: {reason}")


class DaemonNotRunningError(ControlError):
    def __init__(self, socket_path: str) -> None:
        super().__init__(
            "control",
            f"the tapri daemon is not running (nothing listens on {socket_path}); "
            "start it with `tapri daemon` or `systemctl start tapri`",
            exit_code=3,
        )


class NotifyError(TapriError):
    def __init__(self, notifier: str, reason: str) -> None:
        self.notifier = notifier
        self.reason = reason
        super().__init__(f'notifier "{notifier}": {reason}')


class MetricsError(TapriError):
    """The metrics endpoint cannot be served (prometheus-client missing, address in use)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"metrics: {reason}")
