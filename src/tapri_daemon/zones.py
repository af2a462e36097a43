"""IANA time zone names, strictly: "Asia/Kolkata" yes, "IST" or "UTC+5:30" no.

Abbreviations are ambiguous (IST is India, Israel and Ireland) and fixed offsets have no
DST rules, so both are refused with a suggestion instead of guessed.
"""

from __future__ import annotations

import functools
import re
from zoneinfo import ZoneInfo, available_timezones

from tapri_daemon.errors import TimezoneError, suggest

_ABBREVIATIONS = {
    "IST": "Asia/Kolkata",
    "UTC+5:30": "Asia/Kolkata",
    "UTC+05:30": "Asia/Kolkata",
    "GMT+5:30": "Asia/Kolkata",
    "+05:30": "Asia/Kolkata",
    "EST": "America/New_York",
    "EDT": "America/New_York",
    "PST": "America/Los_Angeles",
    "PDT": "America/Los_Angeles",
    "CET": "Europe/Berlin",
    "CEST": "Europe/Berlin",
    "BST": "Europe/London",
    "SGT": "Asia/Singapore",
    "JST": "Asia/Tokyo",
}
_LEGACY = {
    "EST",
    "MST",
    "HST",
    "EST5EDT",
    "CST6CDT",
    "MST7MDT",
    "PST8PDT",
    "CET",
    "EET",
    "MET",
    "WET",
}


@functools.cache
def _names() -> frozenset[str]:
    return frozenset(available_timezones() - _LEGACY) | {"UTC"}


def _suggestion(name: str) -> str | None:
    if name.upper() in _ABBREVIATIONS:
        return _ABBREVIATIONS[name.upper()]
    tail = re.sub(r"^.*zoneinfo/", "", name)
    if tail in _names():
        return tail
    hint = suggest(tail, _names())
    return hint.split('"')[1] if hint else None


def check_timezone(name: str) -> str:
    """Return the name if it is a real IANA zone; raise TimezoneError otherwise."""
    if name in _names():
        return name
    raise TimezoneError(name, _suggestion(name))


@functools.cache
def zone(name: str) -> ZoneInfo:
    """The ZoneInfo for a checked name."""
    return ZoneInfo(check_timezone(name))
