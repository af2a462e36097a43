"""Durations as users write them: "250ms", "90s", "2m", "1h30m", "1d".

A bare number is refused on purpose: "timeout = 30" could mean seconds or minutes,
and guessing wrong is how a job gets killed after 30 ms.
"""

from __future__ import annotations

import re
from datetime import timedelta

from tapri_daemon.errors import DurationError

_UNITS = {
    "d": timedelta(days=1),
    "h": timedelta(hours=1),
    "m": timedelta(minutes=1),
    "s": timedelta(seconds=1),
    "ms": timedelta(milliseconds=1),
    "us": timedelta(microseconds=1),
}
_PART = r"(\d+(?:\.\d+)?)(ms|us|d|h|m|s)"
_WHOLE = re.compile(rf"^(?:{_PART})+$")
_EACH = re.compile(_PART)

PATTERN = r"^(\d+(\.\d+)?(ms|us|d|h|m|s))+$"
"""The JSON Schema pattern for a duration string."""


def parse_duration(value: object) -> timedelta:
    """Parse "1h30m" into a timedelta; raise DurationError for anything else."""
    if isinstance(value, timedelta):
        return value
    if not isinstance(value, str):
        raise DurationError(value)
    text = value.strip().replace(" ", "")
    if not _WHOLE.match(text):
        raise DurationError(value)
    return sum((float(n) * _UNITS[u] for n, u in _EACH.findall(text)), timedelta())


def format_duration(value: timedelta) -> str:
    """The shortest string that parse_duration reads back to the same value."""
    micros = value // timedelta(microseconds=1)
    if micros == 0:
        return "0s"
    parts: list[str] = []
    for unit in ("d", "h", "m", "s", "ms", "us"):
        size = _UNITS[unit] // timedelta(microseconds=1)
        count, micros = divmod(micros, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


_SIZE = re.compile(r"^(\d+)\s*(B|KB|KiB|MB|MiB|GB|GiB)?$")
_SIZE_UNITS = {
    None: 1,
    "B": 1,
    "KB": 10**3,
    "KiB": 2**10,
    "MB": 10**6,
    "MiB": 2**20,
    "GB": 10**9,
    "GiB": 2**30,
}


def parse_size(value: object) -> int:
    """Parse 1048576, "512KiB" or "10MiB" into bytes."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    match = _SIZE.match(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise DurationError.for_size(value)
    return int(match.group(1)) * _SIZE_UNITS[match.group(2)]
