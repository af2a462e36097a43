"""A workflow's task graph as text, Mermaid or Graphviz dot (pure string building)."""

from __future__ import annotations

import json
from collections.abc import Mapping

from tapri_daemon.cli.define_views import graph_levels
from tapri_daemon.durations import format_duration
from tapri_daemon.graph import TaskGraph
from tapri_daemon.model import Task, Workflow

STATE_COLOURS: Mapping[str, str] = {
    "pending": "#e0e0e0",
    "waiting": "#ce93d8",
    "running": "#64b5f6",
    "up_for_retry": "#ffd54f",
    "success": "#81c784",
    "failed": "#e57373",
    "upstream_failed": "#ffb74d",
    "skipped": "#bdbdbd",
    "cancelled": "#90a4ae",
}
"""Fill colour of a task in a given run's state (`tapri graph --run`)."""

States = Mapping[str, str]


def render(workflow_id: str, workflow: Workflow, fmt: str, states: States | None = None) -> str:
    """The graph; with ``states`` (task -> state in one run) tasks are coloured by state."""
    graph = TaskGraph.of(workflow)
    shown = states or {}
    if fmt == "mermaid":
        return mermaid(workflow, graph, shown)
    if fmt == "dot":
        return dot(workflow_id, workflow, graph, shown)
    return text(workflow_id, workflow, graph, shown)


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


def text(workflow_id: str, workflow: Workflow, graph: TaskGraph, states: States) -> str:
    """Levels: each task under the first level at which all its upstream tasks are done."""
    levels = graph_levels(graph)
    width = max(len(t) for t in graph.order)
    lines = [f"{workflow_id}: {len(graph.order)} tasks in {len(levels)} levels"]
    for n, level in enumerate(levels, start=1):
        lines.append(f"level {n}")
        for task in level:
            after = ", ".join(sorted(graph.upstream[task]))
            after_text = f"after {after}" if after else "start"
            state = f"  ({states[task]})" if task in states else ""
            notes = _notes(workflow.task[task])
            lines.append(f"  {task:<{width}}  {after_text}  [{notes}]{state}")
    return "\n".join(lines)


def mermaid(workflow: Workflow, graph: TaskGraph, states: States) -> str:
    """A Mermaid flowchart; node ids are prefixed (a task named "end" would break it)."""
    lines = ["flowchart LR"]
    in_race = {t for members in _races(workflow).values() for t in members}
    lines += [f'    t_{t}["{t}"]' for t in graph.order if t not in in_race]
    for race, members in _races(workflow).items():
        lines.append(f'    subgraph race_{race}["race: {race}"]')
        lines += [f'        t_{t}["{t}"]' for t in members]
        lines.append("    end")
    lines += [f"    t_{a} --> t_{b}" for a, b in _edges(graph)]
    used = sorted(set(states.values()) & set(STATE_COLOURS))
    lines += [f"    classDef {s} fill:{STATE_COLOURS[s]},color:#000" for s in used]
    lines += [f"    class t_{t} {states[t]}" for t in graph.order if states.get(t) in used]
    return "\n".join(lines)


def dot(workflow_id: str, workflow: Workflow, graph: TaskGraph, states: States) -> str:
    """A Graphviz digraph; race members share a cluster."""
    q = json.dumps
    lines = [f"digraph {q(workflow_id)} {{", "    rankdir=LR;", "    node [shape=box];"]
    lines += [f"    {q(t)}{_dot_state(states.get(t))};" for t in graph.order]
    for race, members in _races(workflow).items():
        lines.append(f"    subgraph {q('cluster_' + race)} {{")
        lines.append(f"        label={q('race: ' + race)};")
        lines += [f"        {q(t)};" for t in members]
        lines.append("    }")
    lines += [f"    {q(a)} -> {q(b)};" for a, b in _edges(graph)]
    lines.append("}")
    return "\n".join(lines)


def _dot_state(state: str | None) -> str:
    if state is None or state not in STATE_COLOURS:
        return ""
    colour = STATE_COLOURS[state]
    return f' [style=filled, fillcolor="{colour}", tooltip="{state}"]'
