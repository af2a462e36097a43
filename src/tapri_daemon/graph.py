"""A workflow's task graph: edges from ``after`` and ``flow``, order, cycles. No I/O.

Flow strings read like Airflow's bitshift operators: ``"a >> [b, c] >> d"`` means b and c
run after a, and d after both b and c. Edges from all flow strings and every task's
``after`` are unioned.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from graphlib import CycleError as _GraphlibCycle
from graphlib import TopologicalSorter

from tapri_daemon.errors import (
    CycleError,
    DefinitionError,
    FlowError,
    GraphError,
    UnknownTaskError,
)
from tapri_daemon.model import Workflow

KeyPath = tuple[str | int, ...]
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _segment(flow: str, text: str) -> list[str]:
    text = text.strip()
    if text.startswith("[") and text.endswith("]"):
        names = [n.strip() for n in text[1:-1].split(",")]
    else:
        names = [text]
    for name in names:
        if not _NAME.match(name):
            raise FlowError(flow, f'"{name}" is not a task id (write "a >> [b, c] >> d")')
    return names


def parse_flow(flow: str) -> list[tuple[str, str]]:
    """The (upstream, downstream) edges a flow string declares."""
    segments = [_segment(flow, part) for part in flow.split(">>")]
    if len(segments) < 2:
        raise FlowError(flow, 'a flow needs at least one ">>"')
    return [(a, b) for left, right in itertools.pairwise(segments) for a in left for b in right]


@dataclass(frozen=True)
class TaskGraph:
    """Upstream and downstream sets of every task; built only from a valid workflow."""

    upstream: Mapping[str, frozenset[str]]
    downstream: Mapping[str, frozenset[str]]
    order: tuple[str, ...]
    """A topological order, stable with respect to definition order."""

    @classmethod
    def of(cls, workflow: Workflow) -> TaskGraph:
        """The graph; the first of ``graph_problems`` is raised if it has any.

        The edges are found once, and the cycle check is the topological sort itself.
        """
        located = _flow_edges(workflow) + _after_edges(workflow)
        problems = _flow_syntax_problems(workflow) + _edge_problems(workflow, located)
        if problems:
            raise problems[0][1]
        try:
            return cls.from_edges(workflow.task, [edge for _, edge in located])
        except _GraphlibCycle:
            raise _cycle_problems(workflow, located)[0][1] from None

    @classmethod
    def from_edges(cls, tasks: Iterable[str], edges: Iterable[tuple[str, str]]) -> TaskGraph:
        names = list(tasks)
        up: dict[str, set[str]] = {t: set() for t in names}
        down: dict[str, set[str]] = {t: set() for t in names}
        for a, b in edges:
            up[b].add(a)
            down[a].add(b)
        return cls(
            upstream={t: frozenset(s) for t, s in up.items()},
            downstream={t: frozenset(s) for t, s in down.items()},
            order=_topological(names, up),
        )

    def roots(self) -> list[str]:
        return [t for t in self.order if not self.upstream[t]]

    def descendants(self, task: str) -> set[str]:
        seen: set[str] = set()
        stack = list(self.downstream[task])
        while stack:
            t = stack.pop()
            if t not in seen:
                seen.add(t)
                stack.extend(self.downstream[t])
        return seen

    def ancestors(self, task: str) -> set[str]:
        seen: set[str] = set()
        stack = list(self.upstream[task])
        while stack:
            t = stack.pop()
            if t not in seen:
                seen.add(t)
                stack.extend(self.upstream[t])
        return seen


def _topological(names: list[str], up: Mapping[str, set[str]]) -> tuple[str, ...]:
    position = {name: i for i, name in enumerate(names)}.__getitem__
    sorter = TopologicalSorter({t: sorted(up[t], key=position) for t in names})
    return tuple(sorter.static_order())


def _flow_edges(workflow: Workflow) -> list[tuple[KeyPath, tuple[str, str]]]:
    found: list[tuple[KeyPath, tuple[str, str]]] = []
    for i, flow in enumerate(workflow.flow):
        try:
            found += [(("flow", i), edge) for edge in parse_flow(flow)]
        except FlowError:
            continue
    return found


def _after_edges(workflow: Workflow) -> list[tuple[KeyPath, tuple[str, str]]]:
    return [
        (("task", tid, "after", i), (up, tid))
        for tid, task in workflow.task.items()
        for i, up in enumerate(task.after)
    ]


def _flow_syntax_problems(workflow: Workflow) -> list[tuple[KeyPath, DefinitionError]]:
    problems: list[tuple[KeyPath, DefinitionError]] = []
    for i, flow in enumerate(workflow.flow):
        try:
            parse_flow(flow)
        except FlowError as exc:
            problems.append((("flow", i), exc))
    return problems


def _edge_problems(
    workflow: Workflow, located: list[tuple[KeyPath, tuple[str, str]]]
) -> list[tuple[KeyPath, DefinitionError]]:
    problems: list[tuple[KeyPath, DefinitionError]] = []
    known = list(workflow.task)
    for path, (a, b) in located:
        if a == b:
            problems.append((path, GraphError(f'task "{a}" depends on itself')))
        for name, other in ((a, b), (b, a)):
            if name not in workflow.task:
                problems.append((path, UnknownTaskError(other, name, known)))
    return problems


def find_cycle(upstream: Mapping[str, Iterable[str]]) -> list[str] | None:
    """A dependency cycle as a path that ends where it starts, or None."""
    try:
        TopologicalSorter({t: list(u) for t, u in upstream.items()}).prepare()
    except _GraphlibCycle as exc:
        return _rotate(list(exc.args[1])[:-1], list(upstream))
    return None


def _rotate(loop: list[str], order: list[str]) -> list[str]:
    """Start the cycle at the task defined first, so the message is stable."""
    position = {name: i for i, name in enumerate(order)}
    start = min(range(len(loop)), key=lambda i: position[loop[i]])
    ring = loop[start:] + loop[:start]
    return [*ring, ring[0]]


def graph_problems(workflow: Workflow) -> list[tuple[KeyPath, DefinitionError]]:
    """Every problem with a workflow's graph, each with the key path it comes from."""
    located = _flow_edges(workflow) + _after_edges(workflow)
    problems = _flow_syntax_problems(workflow) + _edge_problems(workflow, located)
    return problems or _cycle_problems(workflow, located)


def _cycle_problems(
    workflow: Workflow, located: list[tuple[KeyPath, tuple[str, str]]]
) -> list[tuple[KeyPath, DefinitionError]]:
    upstream: dict[str, set[str]] = {t: set() for t in workflow.task}
    for _, (a, b) in located:
        upstream[b].add(a)
    cycle = find_cycle(upstream)
    if cycle:
        return [(("flow",) if workflow.flow else ("task", cycle[0], "after"), CycleError(cycle))]
    return []
