"""Where a run stands: each task's state, its upstream tally, races. Pure bookkeeping.

``begin`` (with the states of tasks finished before, for a resumed run) and ``finish``
return ``Decisions``: tasks to start now, tasks the trigger rules settled at once
(``skipped`` / ``upstream_failed``, cascading), and race losers to cancel.

A race counts for its downstream tasks as a whole, once every member has ended: when it
was won every member counts as a success, otherwise each member counts as it ended. A
member that failed or was cancelled in a race that was won does not fail the run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from tapri_daemon.engine.rules import Category, Tally, Verdict, judge
from tapri_daemon.graph import TaskGraph
from tapri_daemon.interfaces import TaskState
from tapri_daemon.model import Workflow

_CATEGORY = {
    TaskState.SUCCESS: Category.SUCCESS,
    TaskState.SKIPPED: Category.SKIPPED,
    TaskState.FAILED: Category.FAILED,
    TaskState.UPSTREAM_FAILED: Category.UPSTREAM_FAILED,
    TaskState.CANCELLED: Category.FAILED,
}
_EXCUSED_IN_WON_RACE = (TaskState.FAILED, TaskState.CANCELLED)


@dataclass(frozen=True, kw_only=True)
class Settled:
    """A task the rules finished without running it."""

    task_id: str
    state: TaskState
    reason: str


@dataclass(kw_only=True)
class Decisions:
    start: list[str] = field(default_factory=list)
    settled: list[Settled] = field(default_factory=list)
    cancel: list[str] = field(default_factory=list)
    """Race losers that were started and must be cancelled now."""


class Progress:
    """The states of one run's tasks and what follows when one of them ends."""

    def __init__(self, workflow: Workflow, graph: TaskGraph) -> None:
        self.workflow = workflow
        self.graph = graph
        self.states: dict[str, TaskState] = dict.fromkeys(graph.order, TaskState.PENDING)
        self.tally = {t: Tally(total=len(graph.upstream[t])) for t in graph.order}
        self.members: dict[str, list[str]] = {}
        for tid in graph.order:
            race = workflow.task[tid].race
            if race is not None:
                self.members.setdefault(race, []).append(tid)
        self.winners: dict[str, str] = {}
        self._decided: set[str] = set()
        self._told: set[str] = set()
        self._queue: list[str] = []
        self._unfinished = len(graph.order)

    # -- questions ----------------------------------------------------------------------
    @property
    def done(self) -> bool:
        return self._unfinished == 0

    def race_of(self, task_id: str) -> str | None:
        return self.workflow.task[task_id].race

    def excused(self, task_id: str) -> bool:
        """Whether a task that did not succeed still lets the run succeed."""
        state = self.states[task_id]
        if state is TaskState.FAILED and self.workflow.task[task_id].allow_failure:
            return True
        race = self.race_of(task_id)
        return race in self.winners and state in _EXCUSED_IN_WON_RACE

    def blocking(self) -> list[str]:
        """The tasks that make the run fail, in graph order."""
        return [
            t
            for t, s in self.states.items()
            if s not in (TaskState.SUCCESS, TaskState.SKIPPED) and not self.excused(t)
        ]

    def unfinished(self) -> list[str]:
        return [t for t, s in self.states.items() if not s.finished]

    # -- transitions --------------------------------------------------------------------
    def set_state(self, task_id: str, state: TaskState) -> None:
        """An in-between state (waiting, running, up_for_retry); no decisions follow."""
        self.states[task_id] = state

    def begin(self, finished: Mapping[str, TaskState] | None = None) -> Decisions:
        """The first decisions of a run; ``finished`` are tasks that ended in an earlier try."""
        decisions = Decisions()
        done = finished or {}
        for tid in self.graph.order:
            if tid in done:
                self._mark(tid, done[tid])
        self._queue.extend(t for t in reversed(self.graph.order) if t in done)
        self._drain(decisions)
        for tid in self.graph.order:
            if tid not in self._decided:
                self._decide(tid, decisions)
                self._drain(decisions)
        return decisions

    def finish(self, task_id: str, state: TaskState) -> Decisions:
        """Record that a started task ended in ``state``; what follows from it."""
        decisions = Decisions()
        self._mark(task_id, state)
        race = self.race_of(task_id)
        if race is not None and self.winners.get(race) == task_id:
            decisions.cancel = [
                m for m in self.members[race] if m in self._decided and not self.states[m].finished
            ]
        self._queue.append(task_id)
        self._drain(decisions)
        return decisions

    # -- internals ----------------------------------------------------------------------
    def _mark(self, task_id: str, state: TaskState) -> None:
        if not self.states[task_id].finished:
            self._unfinished -= 1
        self.states[task_id] = state
        self._decided.add(task_id)
        race = self.race_of(task_id)
        if race is not None and state is TaskState.SUCCESS:
            self.winners.setdefault(race, task_id)

    def _drain(self, decisions: Decisions) -> None:
        """Tell downstream tasks about finished ones until nothing more follows.

        A work list, not recursion: a failure at the head of a 1,000-long chain settles
        every task after it.
        """
        while self._queue:
            self._propagate(self._queue.pop(), decisions)

    def _propagate(self, task_id: str, decisions: Decisions) -> None:
        race = self.race_of(task_id)
        members = [task_id] if race is None else self.members[race]
        if not all(self.states[m].finished for m in members):
            return
        for member in members:
            if member not in self._told:
                self._told.add(member)
                self._tell_downstream(member, self._category(member), decisions)

    def _category(self, task_id: str) -> Category:
        race = self.race_of(task_id)
        if race is not None and race in self.winners:
            return Category.SUCCESS
        return _CATEGORY[self.states[task_id]]

    def _tell_downstream(self, task_id: str, category: Category, decisions: Decisions) -> None:
        for down in self.graph.downstream[task_id]:
            self.tally[down].add(category)
            if down not in self._decided:
                self._decide(down, decisions)

    def _decide(self, task_id: str, decisions: Decisions) -> None:
        rule = self.workflow.task[task_id].trigger
        verdict = judge(rule, self.tally[task_id])
        if verdict is Verdict.WAIT:
            return
        self._decided.add(task_id)
        race = self.race_of(task_id)
        if verdict is Verdict.RUN and race is not None and race in self.winners:
            reason = f'race "{race}" was won by "{self.winners[race]}"'
            self._settle(task_id, TaskState.CANCELLED, reason, decisions)
        elif verdict is Verdict.RUN:
            decisions.start.append(task_id)
        elif verdict is Verdict.SKIP:
            self._settle(task_id, TaskState.SKIPPED, f"skipped by trigger rule {rule}", decisions)
        else:
            reason = f"an upstream task failed (trigger rule {rule})"
            self._settle(task_id, TaskState.UPSTREAM_FAILED, reason, decisions)

    def _settle(self, task_id: str, state: TaskState, reason: str, decisions: Decisions) -> None:
        decisions.settled.append(Settled(task_id=task_id, state=state, reason=reason))
        self._mark(task_id, state)
        self._queue.append(task_id)
