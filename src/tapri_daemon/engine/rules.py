"""Trigger rules: may a task run, given how its upstreams ended? Airflow's semantics, pure.

A task with no upstream always runs. Otherwise each rule looks at a ``Tally`` of its
upstreams and answers at once, before every upstream is done, when the answer is already
certain: ``all_success`` turns ``upstream_failed`` as soon as one upstream failed and
``skipped`` as soon as one was skipped; ``one_success`` runs as soon as one succeeded.

    rule          runs when                  otherwise
    all_success   every upstream succeeded   any failed -> upstream_failed; any skipped -> skipped
    all_failed    every upstream failed      any succeeded or skipped -> skipped
    all_done      every upstream is done     (never skipped)
    one_success   one upstream succeeded     all done: all skipped -> skipped, else upstream_failed
    one_failed    one upstream failed        all done without a failure -> skipped
    none_failed   all done, none failed      any failed -> upstream_failed

``failed`` counts upstreams that ended failed or cancelled; ``upstream_failed`` ones count
as failures too (Airflow counts ``failed`` and ``upstream_failed`` together everywhere).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from tapri_daemon.model import TriggerRule


class Verdict(StrEnum):
    WAIT = "wait"
    RUN = "run"
    SKIP = "skip"
    UPSTREAM_FAILED = "upstream_failed"


class Category(StrEnum):
    """How a finished upstream counts for its downstream's trigger rule."""

    SUCCESS = "success"
    SKIPPED = "skipped"
    FAILED = "failed"
    UPSTREAM_FAILED = "upstream_failed"


@dataclass(slots=True)
class Tally:
    """How many of a task's ``total`` upstreams ended in each category so far."""

    total: int
    success: int = 0
    skipped: int = 0
    failed: int = 0
    upstream_failed: int = 0

    @property
    def done(self) -> int:
        return self.success + self.skipped + self.failed + self.upstream_failed

    @property
    def failures(self) -> int:
        return self.failed + self.upstream_failed

    def add(self, category: Category) -> None:
        if category is Category.SUCCESS:
            self.success += 1
        elif category is Category.SKIPPED:
            self.skipped += 1
        elif category is Category.FAILED:
            self.failed += 1
        else:
            self.upstream_failed += 1


def _all_success(t: Tally) -> Verdict:
    if t.failures:
        return Verdict.UPSTREAM_FAILED
    if t.skipped:
        return Verdict.SKIP
    return Verdict.RUN if t.success == t.total else Verdict.WAIT


def _all_failed(t: Tally) -> Verdict:
    if t.success or t.skipped:
        return Verdict.SKIP
    return Verdict.RUN if t.failures == t.total else Verdict.WAIT


def _all_done(t: Tally) -> Verdict:
    return Verdict.RUN if t.done == t.total else Verdict.WAIT


def _one_success(t: Tally) -> Verdict:
    if t.success:
        return Verdict.RUN
    if t.done < t.total:
        return Verdict.WAIT
    return Verdict.SKIP if t.skipped == t.total else Verdict.UPSTREAM_FAILED


def _one_failed(t: Tally) -> Verdict:
    if t.failures:
        return Verdict.RUN
    return Verdict.SKIP if t.done == t.total else Verdict.WAIT


def _none_failed(t: Tally) -> Verdict:
    if t.failures:
        return Verdict.UPSTREAM_FAILED
    return Verdict.RUN if t.done == t.total else Verdict.WAIT


_RULES = {
    "all_success": _all_success,
    "all_failed": _all_failed,
    "all_done": _all_done,
    "one_success": _one_success,
    "one_failed": _one_failed,
    "none_failed": _none_failed,
}


def judge(rule: TriggerRule, tally: Tally) -> Verdict:
    """What a task with ``rule`` does given its upstreams' ``tally`` so far."""
    if tally.total == 0:
        return Verdict.RUN
    return _RULES[rule](tally)
