"""TaskGraph.of: the same errors as graph_problems, a definition-stable order, big graphs."""

from __future__ import annotations

import pytest

from tapri_daemon.errors import CycleError, FlowError, GraphError, UnknownTaskError
from tapri_daemon.graph import TaskGraph, graph_problems
from tapri_daemon.model import Workflow


def workflow(tasks: dict[str, list[str]], flow: tuple[str, ...] = ()) -> Workflow:
    return Workflow.model_validate(
        {
            "flow": list(flow),
            "task": {name: {"shell": "true", "after": after} for name, after in tasks.items()},
        }
    )


@pytest.mark.parametrize(
    ("tasks", "flow", "error"),
    [
        ({"a": ["c"], "b": ["a"], "c": ["b"]}, (), CycleError),
        ({"a": [], "b": ["a"]}, ("b >> a",), CycleError),
        ({"a": ["nope"]}, (), UnknownTaskError),
        ({"a": ["a"]}, (), GraphError),
        ({"a": [], "b": []}, ("a >> b c",), FlowError),
    ],
)
def test_of_raises_the_first_graph_problem(
    tasks: dict[str, list[str]], flow: tuple[str, ...], error: type[Exception]
) -> None:
    wf = workflow(tasks, flow)
    problems = graph_problems(wf)
    assert problems and isinstance(problems[0][1], error)
    with pytest.raises(error) as raised:
        TaskGraph.of(wf)
    assert str(raised.value) == str(problems[0][1])


def test_a_cycle_names_its_path_from_the_first_defined_task() -> None:
    wf = workflow({"x": [], "b": ["c"], "c": ["d"], "d": ["b"]})
    with pytest.raises(CycleError, match="cycle: b -> d -> c -> b"):
        TaskGraph.of(wf)


def test_the_order_follows_definitions_where_edges_allow() -> None:
    graph = TaskGraph.of(workflow({"z": [], "m": [], "a": ["z", "m"], "k": [], "b": ["a"]}))
    assert graph.order == ("z", "m", "k", "a", "b")
    assert graph.upstream["a"] == {"z", "m"} and graph.downstream["a"] == {"b"}
    assert graph.roots() == ["z", "m", "k"]


def test_a_wide_and_long_graph() -> None:
    """The benchmark's shape (timed in bench/validate_10k.py, not here)."""
    tasks: dict[str, list[str]] = {"root": []}
    tasks |= {f"fan_{i}": ["root"] for i in range(4000)}
    previous = "root"
    for i in range(2000):
        tasks[f"chain_{i}"] = [previous]
        previous = f"chain_{i}"
    graph = TaskGraph.of(workflow(tasks))
    assert len(graph.order) == 6001 and graph.order[0] == "root"
    assert [t for t in graph.order if t.startswith("chain_")] == [f"chain_{i}" for i in range(2000)]
    assert graph.downstream["root"] == {f"fan_{i}" for i in range(4000)} | {"chain_0"}
