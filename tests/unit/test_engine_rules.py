"""Trigger rules (Airflow's semantics, table-tested) and the run's pure bookkeeping."""

from __future__ import annotations

import pytest

from tapri_daemon.engine.progress import Progress
from tapri_daemon.engine.rules import Tally, Verdict, judge
from tapri_daemon.graph import TaskGraph
from tapri_daemon.interfaces import TaskState
from tapri_daemon.model import TriggerRule
from tapri_daemon.testing import definitions_of

RULES = ("all_success", "all_failed", "all_done", "one_success", "one_failed", "none_failed")
LETTER = {"W": Verdict.WAIT, "R": Verdict.RUN, "S": Verdict.SKIP, "U": Verdict.UPSTREAM_FAILED}

# success, skipped, failed, upstream_failed (of 3 upstreams) -> one verdict per rule in RULES:
# W wait, R run, S skipped, U upstream_failed
CASES = [
    ((0, 0, 0, 0), "W W W W W W"),
    ((3, 0, 0, 0), "R S R R S R"),
    ((1, 0, 0, 0), "W S W R W W"),
    ((0, 0, 1, 0), "U W W W R U"),
    ((0, 0, 0, 1), "U W W W R U"),
    ((0, 1, 0, 0), "S S W W W W"),
    ((0, 0, 3, 0), "U R R U R U"),
    ((0, 0, 2, 1), "U R R U R U"),
    ((0, 3, 0, 0), "S S R S S R"),
    ((2, 1, 0, 0), "S S R R S R"),
    ((0, 2, 1, 0), "U S R U R U"),
    ((1, 1, 1, 0), "U S R R R U"),
    ((2, 0, 1, 0), "U S R R R U"),
]


@pytest.mark.parametrize(("counts", "expected"), CASES)
def test_rule_table(counts: tuple[int, int, int, int], expected: str) -> None:
    success, skipped, failed, upstream_failed = counts
    tally = Tally(
        total=3, success=success, skipped=skipped, failed=failed, upstream_failed=upstream_failed
    )
    got = {rule: judge(rule, tally) for rule in RULES}  # type: ignore[arg-type]
    assert got == dict(zip(RULES, (LETTER[x] for x in expected.split()), strict=True))


@pytest.mark.parametrize(
    "rule", ["all_success", "all_failed", "all_done", "one_success", "one_failed", "none_failed"]
)
def test_a_task_without_upstream_always_runs(rule: TriggerRule) -> None:
    assert judge(rule, Tally(total=0)) is Verdict.RUN


def _progress(tasks: dict[str, dict[str, object]]) -> Progress:
    workflow = definitions_of(tasks).workflow["w"]
    return Progress(workflow, TaskGraph.of(workflow))


def test_a_failure_settles_a_long_chain_at_once_without_recursion() -> None:
    tasks: dict[str, dict[str, object]] = {"t0": {"python": "m:f"}}
    tasks.update({f"t{i}": {"python": "m:f", "after": f"t{i - 1}"} for i in range(1, 3000)})
    progress = _progress(tasks)
    assert progress.begin().start == ["t0"]
    decisions = progress.finish("t0", TaskState.FAILED)
    assert len(decisions.settled) == 2999
    assert {s.state for s in decisions.settled} == {TaskState.UPSTREAM_FAILED}
    assert progress.done
    assert progress.blocking()[:2] == ["t0", "t1"]


def test_one_success_starts_before_the_other_upstreams_end() -> None:
    progress = _progress(
        {
            "a": {"python": "m:f"},
            "b": {"python": "m:f"},
            "j": {"python": "m:f", "after": ["a", "b"], "trigger": "one_success"},
        }
    )
    assert sorted(progress.begin().start) == ["a", "b"]
    assert progress.finish("a", TaskState.SUCCESS).start == ["j"]
    assert progress.finish("b", TaskState.FAILED).start == []


def test_race_counts_as_one_upstream_once_all_members_ended() -> None:
    progress = _progress(
        {
            "x": {"python": "m:f", "race": "r"},
            "y": {"python": "m:f", "race": "r"},
            "after": {"python": "m:f", "after": ["x", "y"]},
        }
    )
    progress.begin()
    first = progress.finish("x", TaskState.FAILED)
    assert first.start == [] and first.settled == []  # a failed member waits for the others
    won = progress.finish("y", TaskState.SUCCESS)
    assert won.start == ["after"]
    assert progress.winners == {"r": "y"}
    progress.finish("after", TaskState.SUCCESS)
    assert progress.blocking() == []  # x failed, but its race was won


def test_race_winner_cancels_started_members() -> None:
    progress = _progress({m: {"python": "m:f", "race": "r"} for m in ("x", "y", "z")})
    assert sorted(progress.begin().start) == ["x", "y", "z"]
    assert sorted(progress.finish("y", TaskState.SUCCESS).cancel) == ["x", "z"]


def test_begin_resumes_from_finished_tasks() -> None:
    progress = _progress(
        {
            "a": {"python": "m:f"},
            "b": {"python": "m:f", "after": "a"},
            "c": {"python": "m:f", "after": "b"},
        }
    )
    decisions = progress.begin({"a": TaskState.SUCCESS})
    assert decisions.start == ["b"]
    assert progress.states["a"] is TaskState.SUCCESS
