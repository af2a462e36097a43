"""Colours and glyphs per run state, task state and attempt outcome.

Glyphs differ per outcome so that a timeline stays readable without colour (pipes, logs,
the snapshot tests).
"""

from __future__ import annotations

from typing import Final

from tapri_daemon.interfaces import Outcome, RunState, TaskState

RUNNING: Final = "running"

OUTCOME_STYLE: Final[dict[str, str]] = {
    Outcome.SUCCESS: "green",
    Outcome.FAILED: "red",
    Outcome.TIMEOUT: "magenta",
    Outcome.CANCELLED: "yellow",
    Outcome.LOST: "bright_black",
    RUNNING: "cyan",
}
OUTCOME_GLYPH: Final[dict[str, str]] = {
    Outcome.SUCCESS: "█",
    Outcome.FAILED: "▓",
    Outcome.TIMEOUT: "▒",
    Outcome.CANCELLED: "░",
    Outcome.LOST: "×",
    RUNNING: "=",
}
STATE_STYLE: Final[dict[str, str]] = {
    RunState.QUEUED: "bright_black",
    RunState.RUNNING: "cyan",
    RunState.SUCCESS: "green",
    RunState.FAILED: "bold red",
    RunState.CANCELLED: "yellow",
    TaskState.PENDING: "bright_black",
    TaskState.WAITING: "blue",
    TaskState.UP_FOR_RETRY: "magenta",
    TaskState.SKIPPED: "bright_black",
    TaskState.UPSTREAM_FAILED: "red",
}


def outcome_key(outcome: Outcome | None) -> str:
    return RUNNING if outcome is None else str(outcome)


def state_style(state: str) -> str:
    return STATE_STYLE.get(state, "")
