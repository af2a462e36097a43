"""Retry decisions: pure functions of a task's resolved settings and the attempt number.

Attempt ``n`` (1-based) that ended retryably is followed by attempt ``n + 1`` when
``n <= retries``, after ``retry_delay * retry_backoff ** (n - 1)`` seconds, plus up to
10 % random jitter unless ``retry_jitter = false``, and never more than ``max_retry_delay``
(the cap applies after the jitter, so it is a hard bound).

Retryable: ``timeout`` and ``lost`` always; ``failed`` unless ``retry_on_exit_codes`` is
set and the exit code is not in it (a failure without an exit code, such as a python
exception, is then not retried). ``cancelled`` and ``success`` never.
"""

from __future__ import annotations

import random

from tapri_daemon.interfaces import Outcome
from tapri_daemon.model import TaskSettings

JITTER = 0.10


def is_retryable(settings: TaskSettings, outcome: Outcome, exit_code: int | None) -> bool:
    if outcome in (Outcome.TIMEOUT, Outcome.LOST):
        return True
    if outcome is not Outcome.FAILED:
        return False
    codes = settings.retry_on_exit_codes
    return codes is None or exit_code in codes


def backoff_delay(settings: TaskSettings, attempt: int) -> float:
    """The delay after failed attempt ``attempt`` before jitter and cap, in seconds."""
    base = settings.retry_delay.total_seconds()
    try:
        return float(base * settings.retry_backoff ** (attempt - 1))
    except OverflowError:
        return float("inf")


def retry_delay(settings: TaskSettings, attempt: int, rng: random.Random | None = None) -> float:
    """Seconds to wait after failed attempt ``attempt`` (1-based) before the next one."""
    delay = backoff_delay(settings, attempt)
    if settings.retry_jitter and delay != float("inf"):
        delay += delay * JITTER * (rng or random).random()
    return min(delay, settings.max_retry_delay.total_seconds())


def decide(
    settings: TaskSettings,
    attempt: int,
    outcome: Outcome,
    exit_code: int | None = None,
    rng: random.Random | None = None,
) -> float | None:
    """The delay before another attempt, or None when attempt ``attempt`` was the last."""
    if attempt > settings.retries or not is_retryable(settings, outcome, exit_code):
        return None
    return retry_delay(settings, attempt, rng)
