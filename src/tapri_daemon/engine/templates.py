"""Task templates: jinja2's sandbox with strict undefined, and values that stay in their place.

    command  each argv element renders into exactly one argv word (never split again)
    shell    every ``{{ ... }}`` value is shell-quoted by a ``finalize`` hook, so no value,
             whatever it holds, can add shell syntax; only the literal script text is shell
    http     url, header and param values, the text body and strings inside the json body
    sql      only the bound ``sql_params`` values render; the SQL text itself never does
    python   strings inside ``args`` render

Values that are not strings render as JSON (``{"a": 1}``, ``[1, 2]``, ``true``, ``null``).
The context (see ``context``): ``params``, ``outputs``, ``run``, ``ds``, ``ds_nodash``,
``ts``, ``logical_date``, ``data_interval_start``, ``data_interval_end``,
``previous_business_day(d=None)`` and ``next_business_day(d=None)``.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable, Mapping
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from tapri_daemon.errors import TemplateError
from tapri_daemon.interfaces import JSON, RunInfo

_MARKERS = ("{{", "{%", "{#")
_MAX_CALENDAR_STEPS = 366 * 2


def is_template(text: str) -> bool:
    return any(marker in text for marker in _MARKERS)


def has_templates(value: Any) -> bool:
    """Whether a string, or any string inside a JSON value, holds template syntax."""
    if isinstance(value, str):
        return is_template(value)
    if not value:
        return False
    if isinstance(value, Mapping):
        return any(has_templates(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(has_templates(v) for v in value)
    return False


def as_text(value: Any) -> str:
    """How a rendered value becomes text: strings as they are, anything else as JSON."""
    if isinstance(value, str):
        return value
    if value is None or isinstance(value, bool | dict | list | tuple):
        return json.dumps(value, ensure_ascii=False, default=str)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def shell_word(value: Any) -> str:
    return shlex.quote(as_text(value))


def _environment(finalize: Callable[[Any], str]) -> SandboxedEnvironment:
    return SandboxedEnvironment(
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        finalize=finalize,
    )


class Renderer:
    """Compiles each template once and renders it in plain or shell mode."""

    def __init__(self) -> None:
        self._envs = {False: _environment(as_text), True: _environment(shell_word)}
        self._compiled: dict[tuple[bool, str], jinja2.Template] = {}

    def _template(self, source: str, shell: bool) -> jinja2.Template:
        key = (shell, source)
        found = self._compiled.get(key)
        if found is None:
            try:
                found = self._envs[shell].from_string(source)
            except jinja2.TemplateSyntaxError as exc:
                raise TemplateError(source, f"line {exc.lineno}: {exc.message}") from None
            self._compiled[key] = found
        return found

    def render(self, source: str, context: Mapping[str, Any], *, shell: bool = False) -> str:
        """Render one string; text without template syntax comes back unchanged."""
        if not is_template(source):
            return source
        try:
            return self._template(source, shell).render(context)
        except TemplateError:
            raise
        except jinja2.TemplateError as exc:
            raise TemplateError(source, str(exc.message or exc)) from None
        except (ArithmeticError, LookupError, TypeError, ValueError) as exc:
            raise TemplateError(source, f"{type(exc).__name__}: {exc}") from None

    def render_value(self, value: JSON, context: Mapping[str, Any]) -> JSON:
        """Render every string inside a JSON value (dict keys stay as written)."""
        if isinstance(value, str):
            return self.render(value, context)
        if isinstance(value, Mapping):
            return {k: self.render_value(v, context) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.render_value(v, context) for v in value]
        return value

    def argv(self, words: tuple[str, ...], context: Mapping[str, Any]) -> tuple[str, ...]:
        return tuple(self.render(word, context) for word in words)

    def shell(self, script: str, context: Mapping[str, Any]) -> str:
        return self.render(script, context, shell=True)


def _stepper(is_working_day: Callable[[date], bool], default: date, step: int) -> Any:
    def helper(d: date | datetime | str | None = None) -> date:
        day = _as_date(d) if d is not None else default
        for _ in range(_MAX_CALENDAR_STEPS):
            day += timedelta(days=step)
            if is_working_day(day):
                return day
        raise ValueError(f"no working day within two years of {day}")

    return helper


def _as_date(value: date | datetime | str) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(value)


def weekdays(day: date) -> bool:
    """The calendar used when a workflow names none: Monday to Friday."""
    return day.weekday() < 5


def context(
    *,
    run: RunInfo,
    params: Mapping[str, JSON],
    outputs: Mapping[str, JSON],
    zone: ZoneInfo,
    is_working_day: Callable[[date], bool] = weekdays,
) -> dict[str, Any]:
    """The variables every template of one attempt sees."""
    local = run.logical_date.astimezone(zone)
    return {
        "params": params,
        "outputs": outputs,
        "run": run.as_dict(),
        "ds": local.strftime("%Y-%m-%d"),
        "ds_nodash": local.strftime("%Y%m%d"),
        "ts": run.logical_date.isoformat(),
        "logical_date": local,
        "data_interval_start": run.data_interval_start.astimezone(zone),
        "data_interval_end": run.data_interval_end.astimezone(zone),
        "previous_business_day": _stepper(is_working_day, local.date(), -1),
        "next_business_day": _stepper(is_working_day, local.date(), 1),
    }
