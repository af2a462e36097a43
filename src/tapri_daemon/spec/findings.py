"""What a cross-check reports before it is located in a file."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from tapri_daemon.spec.locate import KeyPath

Severity = Literal["error", "warning"]

Found = list[tuple[KeyPath, str, Severity]]
"""(key path relative to the thing checked, message, severity)."""


@dataclass(frozen=True, kw_only=True)
class Finding:
    """A problem at a key path from a file's root, e.g. ("workflow", "rbi", "schedule", 0)."""

    key: KeyPath
    message: str
    severity: Severity = "error"


def within(prefix: KeyPath, found: Found) -> list[Finding]:
    return [
        Finding(key=(*prefix, *key), message=message, severity=severity)
        for key, message, severity in found
    ]


def errors(found: list[tuple[KeyPath, str]]) -> Found:
    return [(key, message, "error") for key, message in found]
