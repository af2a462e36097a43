"""A workflow's task graph as text, Mermaid or Graphviz dot (pure string building)."""

from __future__ import annotations

import json

from tapri_daemon.cli.define_views import graph_levels
from tapri_daemon.durations import format_duration
from tapri_daemon.graph import TaskGraph
from tapri_daemon.model import Task, Workflow


def render(workflow_id: str, workflow: Workflow, fmt: str) -> str:
    graph = TaskGraph.of(workflow)
    if fmt == "mermaid":
        return mermaid(workflow, graph)
    if fmt == "dot":
        return dot(workflow_id, workflow, graph)
    return text(workflow_id, workflow, graph)


def _edges(graph: TaskGraph) -> list[tuple[str, str]]:
    rank = {task: n for n, task in enumerate(graph.order)}
    return [
        (up, task)
        for task in graph.order
        for up in sorted(graph.upstream[task], key=rank.__getitem__)
    ]


def _races(workflow: Workflow) -> dict[str, list[str]]:
    races: dict[str, list[str]] = {}
    for task_id, task in workflow.task.items():
        if task.race:
            races.setdefault(task.race, []).append(task_id)
    return races


def _notes(task: Task) -> str:
    notes: list[str] = [task.kind]
    if task.trigger != "all_success":
        notes.append(f"trigger {task.trigger}")
    if task.race:
        notes.append(f"race {task.race}")
    if task.at_fire:
        offset = f" +{format_duration(task.fire_offset)}" if task.fire_offset else ""
        notes.append(f"at_fire{offset}")
    if task.allow_failure:
        notes.append("allow_failure")
    return ", ".join(notes)


def text(workflow_id: str, workflow: Workflow, graph: TaskGraph) -> str:
    """Levels: each task under the first level at which all its upstream tasks are done."""
    levels = graph_levels(graph)
    width = max(len(t) for t in graph.order)
    lines = [f"{workflow_id}: {len(graph.order)} tasks in {len(levels)} levels"]
    for n, level in enumerate(levels, start=1):
        lines.append(f"level {n}")
        for task in level:
            after = ", ".join(sorted(graph.upstream[task]))
            after_text = f"after {after}" if after else "start"
            lines.append(f"  {task:<{width}}  {after_text}  [{_notes(workflow.task[task])}]")
    return "\n".join(lines)


def mermaid(workflow: Workflow, graph: TaskGraph) -> str:
    """A Mermaid flowchart; node ids are prefixed (a task named "end" would break it)."""
    lines = ["flowchart LR"]
    in_race = {t for members in _races(workflow).values() for t in members}
    lines += [f'    t_{t}["{t}"]' for t in graph.order if t not in in_race]
    for race, members in _races(workflow).items():
        lines.append(f'    subgraph race_{race}["race: {race}"]')
        lines += [f'        t_{t}["{t}"]' for t in members]
        lines.append("    end")
    lines += [f"    t_{a} --> t_{b}" for a, b in _edges(graph)]
    return "\n".join(lines)


def dot(workflow_id: str, workflow: Workflow, graph: TaskGraph) -> str:
    """A Graphviz digraph; race members share a cluster."""
    q = json.dumps
    lines = [f"digraph {q(workflow_id)} {{", "    rankdir=LR;", "    node [shape=box];"]
    lines += [f"    {q(t)};" for t in graph.order]
    for race, members in _races(workflow).items():
        lines.append(f"    subgraph {q('cluster_' + race)} {{")
        lines.append(f"        label={q('race: ' + race)};")
        lines += [f"        {q(t)};" for t in members]
        lines.append("    }")
    lines += [f"    {q(a)} -> {q(b)};" for a, b in _edges(graph)]
    lines.append("}")
    return "\n".join(lines)
