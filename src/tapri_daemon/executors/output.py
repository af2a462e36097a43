"""The rules every executor applies to what an attempt produces.

An output is JSON-serialisable (NaN and Infinity refused), at most ``output_limit`` bytes
as UTF-8 JSON, with every secret value masked inside its strings; text is valid Unicode
(a lone surrogate becomes "?") so the store and the structured
logs can always encode it. Error texts are masked, cleaned the same way and cut to
``ERROR_LIMIT`` characters. An output that breaks a rule fails the attempt.
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tapri_daemon.interfaces import JSON, AttemptResult, Outcome, ProcessInfo

ERROR_LIMIT = 4000
_MASK = "***"


@dataclass(frozen=True, kw_only=True)
class Checked:
    """An output that passed the rules (``error`` None), or why it did not."""

    value: JSON = None
    error: str | None = None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def loads(data: str | bytes) -> JSON:
    """Strict JSON: NaN / Infinity are refused (json.dumps would not read them back)."""
    return json.loads(data, parse_constant=_refuse_constant)


def mask_text(text: str, secrets: Sequence[str]) -> str:
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, _MASK)
    return text


def mask_value(value: JSON, secrets: Sequence[str]) -> JSON:
    """The value with every secret masked inside its strings (keys included)."""
    if isinstance(value, str):
        return mask_text(value, secrets)
    if isinstance(value, list | tuple):
        return [mask_value(item, secrets) for item in value]
    if isinstance(value, dict):
        return {mask_value(k, secrets): mask_value(v, secrets) for k, v in value.items()}
    return value


def too_big(size: int, limit: int, what: str = "the output") -> str:
    return f"{what} is {size} bytes, over the output limit of {limit} bytes"


def check(value: JSON, limit: int, secrets: Sequence[str] = ()) -> Checked:
    """Apply the output rules to a value a task produced."""
    if secrets:
        value = mask_value(value, secrets)
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError, RecursionError) as exc:
        return Checked(error=f"the output is not JSON-serialisable: {exc}")
    try:
        data = text.encode()
    except UnicodeEncodeError:
        data = text.encode("utf-8", "replace")
        value = json.loads(data)
    if len(data) > limit:
        return Checked(error=too_big(len(data), limit))
    return Checked(value=value)


def from_json_bytes(raw: bytes, limit: int, secrets: Sequence[str], source: str) -> Checked:
    """A JSON document a task wrote (``source`` names where, for the error)."""
    if len(raw) > limit:
        return Checked(error=too_big(len(raw), limit, source))
    if not raw.strip():
        return Checked(error=f"{source} is empty; write one JSON value to it")
    try:
        value = loads(raw)
    except ValueError as exc:
        return Checked(error=f"{source} is not JSON: {exc}")
    return check(value, limit, secrets)


def from_line(line: bytes, limit: int, secrets: Sequence[str]) -> Checked:
    """The last stdout line: its JSON value if it is JSON, else the text."""
    text = line.decode("utf-8", "replace")
    try:
        value = loads(text)
    except ValueError:
        value = text
    return check(value, limit, secrets)


def clean_error(text: str, secrets: Sequence[str] = ()) -> str:
    text = mask_text(text, secrets).encode("utf-8", "replace").decode()
    return text if len(text) <= ERROR_LIMIT else text[: ERROR_LIMIT - 1] + "…"


def exit_error(code: int | None) -> str:
    """Why a process failed, from os.waitstatus_to_exitcode's value."""
    if code is None:
        return "the exit status was lost (reaped elsewhere)"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"killed by signal {name}"
    return f"exited with code {code}"


def finished(
    outcome: Outcome,
    started_ns: int,
    *,
    output: JSON = None,
    exit_code: int | None = None,
    error: str | None = None,
    killed: int = 0,
    process: ProcessInfo | None = None,
    secrets: Sequence[str] = (),
    released_ns: int | None = None,
) -> AttemptResult:
    """An AttemptResult ending now, its error text cleaned and masked.

    A released precise fire (``released_ns``) started at its release: ``started_ns`` is it.
    """
    return AttemptResult(
        outcome=outcome,
        output=output,
        exit_code=exit_code,
        error=clean_error(error, secrets) if error is not None else None,
        started_ns=released_ns if released_ns is not None else started_ns,
        ended_ns=time.time_ns(),
        killed=killed,
        process=process,
        released_ns=released_ns,
    )
