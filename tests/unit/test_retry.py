"""Retry decisions are pure: policy and attempt number in, delay or give-up out."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

import pytest

from tapri_daemon.engine import retry
from tapri_daemon.interfaces import Outcome
from tapri_daemon.model import TaskSettings


def settings(**values: Any) -> TaskSettings:
    base: dict[str, Any] = {"retries": 3, "retry_delay": timedelta(seconds=10)}
    base["retry_jitter"] = False
    return TaskSettings(**{**base, **values})


@pytest.mark.parametrize(
    ("backoff", "expected"),
    [(1.0, [10, 10, 10]), (2.0, [10, 20, 40]), (3.0, [10, 30, 90])],
)
def test_backoff_multiplies_the_delay_per_attempt(backoff: float, expected: list[float]) -> None:
    policy = settings(retry_backoff=backoff)
    assert [retry.decide(policy, n, Outcome.FAILED) for n in (1, 2, 3)] == expected


def test_attempt_after_the_last_retry_gives_up() -> None:
    policy = settings(retries=2)
    assert retry.decide(policy, 2, Outcome.FAILED) == 10
    assert retry.decide(policy, 3, Outcome.FAILED) is None
    assert retry.decide(settings(retries=0), 1, Outcome.FAILED) is None


def test_max_retry_delay_caps_the_backoff() -> None:
    policy = settings(retries=10, retry_backoff=2.0, max_retry_delay=timedelta(seconds=50))
    assert [retry.decide(policy, n, Outcome.FAILED) for n in range(1, 6)] == [10, 20, 40, 50, 50]


def test_huge_attempt_numbers_do_not_overflow() -> None:
    policy = settings(retries=5000, retry_backoff=10.0, retry_jitter=True)
    assert retry.decide(policy, 4000, Outcome.FAILED, rng=random.Random(1)) == 3600


def test_jitter_adds_at_most_ten_percent() -> None:
    policy = settings(retry_jitter=True, retry_delay=timedelta(seconds=100))
    rng = random.Random(42)
    delays = [retry.decide(policy, 1, Outcome.FAILED, rng=rng) for _ in range(500)]
    assert all(d is not None and 100 <= d <= 110 for d in delays)
    assert len(set(delays)) > 400  # really random
    assert max(d for d in delays if d is not None) > 108


def test_jitter_off_is_exact_and_injected_rng_is_used() -> None:
    class Always:
        def random(self) -> float:
            return 1.0

    jittery = settings(retry_jitter=True)
    assert retry.retry_delay(jittery, 1, Always()) == pytest.approx(11.0)  # type: ignore[arg-type]
    assert retry.retry_delay(settings(), 1, Always()) == 10.0  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("outcome", "exit_code", "codes", "retried"),
    [
        (Outcome.FAILED, 1, None, True),
        (Outcome.FAILED, None, None, True),
        (Outcome.FAILED, 75, (75, 111), True),
        (Outcome.FAILED, 1, (75, 111), False),
        (Outcome.FAILED, None, (75,), False),
        (Outcome.TIMEOUT, None, (75,), True),
        (Outcome.LOST, None, (75,), True),
        (Outcome.CANCELLED, None, None, False),
        (Outcome.SUCCESS, 0, None, False),
    ],
)
def test_what_is_retryable(
    outcome: Outcome, exit_code: int | None, codes: tuple[int, ...] | None, retried: bool
) -> None:
    policy = settings(retry_on_exit_codes=codes)
    assert retry.is_retryable(policy, outcome, exit_code) is retried
    assert (retry.decide(policy, 1, outcome, exit_code) is not None) is retried
