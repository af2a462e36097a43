"""Per-workflow figures from stored records: pure, shared by both stores."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from tapri_daemon.interfaces import (
    AttemptRecord,
    FireRecord,
    FireStatus,
    Outcome,
    RunRecord,
    RunState,
    WorkflowStats,
)


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """Nearest-rank percentile (an observed value, never an interpolation)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def _durations(runs: Iterable[RunRecord]) -> list[float]:
    return [
        (run.ended_at - run.started_at).total_seconds()
        for run in runs
        if run.state.finished and run.started_at is not None and run.ended_at is not None
    ]


def _count(runs: Iterable[RunRecord], state: RunState) -> int:
    return sum(1 for run in runs if run.state is state)


def _latest(values: Iterable[datetime | None]) -> datetime | None:
    present = [v for v in values if v is not None]
    return max(present) if present else None


def _lateness(attempts: Iterable[AttemptRecord]) -> list[float]:
    return [a.lateness_us for a in attempts if a.lateness_us is not None]


def _missed(fires: Iterable[FireRecord]) -> int:
    return sum((f.status is FireStatus.MISSED) + f.missed_count for f in fires)


def _one(
    workflow: str,
    runs: list[RunRecord],
    attempts: list[AttemptRecord],
    fires: list[FireRecord],
    late_after_us: float,
) -> WorkflowStats:
    succeeded = _count(runs, RunState.SUCCESS)
    finished = sum(1 for run in runs if run.state.finished)
    durations = _durations(runs)
    lateness = _lateness(attempts)
    return WorkflowStats(
        workflow=workflow,
        runs=len(runs),
        succeeded=succeeded,
        failed=_count(runs, RunState.FAILED),
        cancelled=_count(runs, RunState.CANCELLED),
        unfinished=len(runs) - finished,
        success_rate=succeeded / finished if finished else None,
        duration_p50_s=percentile(durations, 0.50),
        duration_p95_s=percentile(durations, 0.95),
        duration_max_s=max(durations) if durations else None,
        retries=sum(1 for a in attempts if a.attempt > 1),
        lost_attempts=sum(1 for a in attempts if a.outcome is Outcome.LOST),
        late_fires=sum(1 for value in lateness if value > late_after_us),
        lateness_p50_us=percentile(lateness, 0.50),
        lateness_p99_us=percentile(lateness, 0.99),
        lateness_max_us=max(lateness) if lateness else None,
        missed_fires=_missed(fires),
        last_run_at=_latest(run.queued_at for run in runs),
        last_success_at=_latest(r.ended_at for r in runs if r.state is RunState.SUCCESS),
    )


def compute_stats(
    runs: Sequence[RunRecord],
    attempts: Sequence[AttemptRecord],
    fires: Sequence[FireRecord],
    *,
    late_after: timedelta,
) -> list[WorkflowStats]:
    """Stats per workflow; ``attempts`` belong to ``runs``, ``fires`` are the window's."""
    workflow_of = {run.run_id: run.workflow for run in runs}
    by_runs: dict[str, list[RunRecord]] = defaultdict(list)
    by_attempts: dict[str, list[AttemptRecord]] = defaultdict(list)
    by_fires: dict[str, list[FireRecord]] = defaultdict(list)
    for run in runs:
        by_runs[run.workflow].append(run)
    for attempt in attempts:
        if attempt.run_id in workflow_of:
            by_attempts[workflow_of[attempt.run_id]].append(attempt)
    for fire in fires:
        by_fires[fire.workflow].append(fire)
    late_us = late_after / timedelta(microseconds=1)
    names = sorted(set(by_runs) | set(by_fires))
    return [_one(n, by_runs[n], by_attempts[n], by_fires[n], late_us) for n in names]
