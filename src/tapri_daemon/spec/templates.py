"""Template checks: every ``{{ ... }}`` parses and names only what a task can see.

A task's strings (command words, the shell script, python ``args`` and ``sql_params``
values at any depth, http url/headers/params/json/body, env values; never the SQL text,
which does not render) may use ``params.<declared param>``, ``outputs.<upstream task or race>``,
``run.*``, ``ds``, ``ds_nodash``, ``ts``, ``logical_date``, ``data_interval_start``,
``data_interval_end`` and the calendar helpers ``previous_business_day`` and
``next_business_day``. A race counts as upstream when all its tasks are.
Defaults' env values cannot use ``outputs`` (they apply to tasks at every position).
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeGuard

import jinja2.meta
from jinja2 import TemplateSyntaxError, nodes
from jinja2.sandbox import SandboxedEnvironment

from tapri_daemon.errors import suggest
from tapri_daemon.graph import TaskGraph
from tapri_daemon.model import Task, TaskDefaults, Workflow
from tapri_daemon.spec.locate import KeyPath

TEMPLATE_NAMES = frozenset(
    {
        "params",
        "outputs",
        "run",
        "ds",
        "ds_nodash",
        "ts",
        "logical_date",
        "data_interval_start",
        "data_interval_end",
        "previous_business_day",
        "next_business_day",
    }
)
_ENV = SandboxedEnvironment()
_MARKERS = ("{{", "{%", "{#")
_BINDING_NODES = (
    nodes.For,
    nodes.Assign,
    nodes.AssignBlock,
    nodes.Macro,
    nodes.CallBlock,
    nodes.FilterBlock,
    nodes.With,
    nodes.Import,
    nodes.FromImport,
    nodes.Block,
)
"""Constructs that bind names; only templates with one need jinja2's full scope analysis."""


@dataclass(frozen=True, kw_only=True)
class Scope:
    """What the templates of one place may name.

    ``params`` None: any param (unchecked). ``outputs`` None: the graph is broken, so only
    whether the name exists (in ``outputs_known``) is checked, not whether it is upstream.
    """

    params: Collection[str] | None
    outputs: Collection[str] | None
    outputs_known: Collection[str] = ()
    user: str = ""
    outputs_refused: bool = False


def _has_template(text: str) -> bool:
    return any(marker in text for marker in _MARKERS)


@dataclass(frozen=True, kw_only=True)
class _Analysis:
    syntax_error: str | None = None
    free_names: tuple[str, ...] = ()
    member_refs: tuple[tuple[str, str], ...] = ()


def template_problems(text: str, scope: Scope) -> list[str]:
    """The problems of one string (empty when it has no template or a fine one)."""
    if not _has_template(text):
        return []
    analysis = _analyse(text)
    if analysis.syntax_error is not None:
        return [f"template does not parse: {analysis.syntax_error} (in {text!r})"]
    problems = [_unknown(name) for name in analysis.free_names if name not in TEMPLATE_NAMES]
    for root, attr in analysis.member_refs:
        problems += _member_problem(root, attr, scope)
    return problems


@functools.lru_cache(maxsize=4096)
def _analyse(text: str) -> _Analysis:
    """Parse once per distinct text (the same templates recur across tasks)."""
    try:
        tree = _ENV.parse(text)
    except TemplateSyntaxError as exc:
        return _Analysis(syntax_error=exc.message or "syntax error")
    every = list(tree.find_all(nodes.Node))
    return _Analysis(free_names=_free_names(tree, every), member_refs=tuple(_member_refs(every)))


def _free_names(tree: nodes.Template, every: list[nodes.Node]) -> tuple[str, ...]:
    """Names read but never set inside the template (minus jinja2's globals)."""
    if any(isinstance(node, _BINDING_NODES) for node in every):
        names = set(jinja2.meta.find_undeclared_variables(tree))
    else:
        names = {n.name for n in every if isinstance(n, nodes.Name) and n.ctx == "load"}
    return tuple(sorted(names - set(_ENV.globals)))


def _unknown(name: str) -> str:
    return f'unknown template variable "{name}"{suggest(name, TEMPLATE_NAMES)}'


def _member_refs(every: list[nodes.Node]) -> Iterator[tuple[str, str]]:
    """(root, member) for every ``params.x`` / ``outputs["x"]`` style reference."""
    for node in every:
        if isinstance(node, nodes.Getattr) and _root_name(node.node):
            yield node.node.name, node.attr
        elif isinstance(node, nodes.Getitem) and _root_name(node.node):
            arg = node.arg
            if isinstance(arg, nodes.Const) and isinstance(arg.value, str):
                yield node.node.name, arg.value


def _root_name(node: nodes.Node) -> TypeGuard[nodes.Name]:
    return isinstance(node, nodes.Name) and node.name in ("params", "outputs")


def _member_problem(root: str, attr: str, scope: Scope) -> list[str]:
    if root == "params":
        allowed = scope.params
        if allowed is None or attr in allowed:
            return []
        return [f'unknown param "{attr}"{suggest(attr, allowed)} (declare it in params)']
    if scope.outputs_refused:
        return [f"outputs.{attr}: defaults apply to every task, so they cannot use outputs"]
    upstream = scope.outputs
    if attr in (scope.outputs_known if upstream is None else upstream):
        return []
    if attr in scope.outputs_known:
        where = f"of {scope.user}" if scope.user else "here"
        return [f'outputs.{attr}: "{attr}" is not upstream {where}; add it to `after` or `flow`']
    return [f'outputs.{attr}: no task or race "{attr}"{suggest(attr, scope.outputs_known)}']


def workflow_template_findings(
    workflow: Workflow, graph: TaskGraph | None
) -> list[tuple[KeyPath, str]]:
    """(key path within the workflow, message) for every template problem."""
    found: list[tuple[KeyPath, str]] = []
    races = _races(workflow)
    known = set(workflow.task) | set(races)
    for task_id, task in workflow.task.items():
        strings = [(key, text) for key, text in task_strings(task) if _has_template(text)]
        if not strings:
            continue  # most tasks: no template, so no need for their upstream set
        scope = Scope(
            params=workflow.params,
            outputs=_visible_outputs(task_id, graph, races),
            outputs_known=known,
            user=f'task "{task_id}"',
        )
        found += _strings_findings(("task", task_id), iter(strings), scope)
    defaults_scope = Scope(params=workflow.params, outputs=(), outputs_refused=True)
    found += _strings_findings(("defaults",), env_strings(workflow.defaults), defaults_scope)
    return found


def defaults_template_findings(defaults: TaskDefaults) -> list[tuple[KeyPath, str]]:
    """File-level [defaults]: params vary by workflow (unchecked), outputs are refused."""
    scope = Scope(params=None, outputs=(), outputs_refused=True)
    return _strings_findings((), env_strings(defaults), scope)


def _strings_findings(
    prefix: KeyPath, strings: Iterator[tuple[KeyPath, str]], scope: Scope
) -> list[tuple[KeyPath, str]]:
    return [
        ((*prefix, *key), message)
        for key, text in strings
        for message in template_problems(text, scope)
    ]


def _races(workflow: Workflow) -> dict[str, set[str]]:
    races: dict[str, set[str]] = {}
    for task_id, task in workflow.task.items():
        if task.race:
            races.setdefault(task.race, set()).add(task_id)
    return races


def _visible_outputs(
    task_id: str, graph: TaskGraph | None, races: Mapping[str, set[str]]
) -> Collection[str] | None:
    if graph is None:
        return None
    upstream = graph.ancestors(task_id)
    return upstream | {race for race, members in races.items() if members <= upstream}


def env_strings(defaults: TaskDefaults) -> Iterator[tuple[KeyPath, str]]:
    for name, value in (defaults.env or {}).items():
        yield ("env", name), value


def task_strings(task: Task) -> Iterator[tuple[KeyPath, str]]:
    """Every templated string of a task with its key path within the task."""
    for i, word in enumerate(task.command or ()):
        yield ("command", i), word
    if task.shell is not None:
        yield ("shell",), task.shell
    yield from _nested_strings(("args",), task.args)
    yield from _nested_strings(("sql_params",), task.sql_params)
    yield from env_strings(task)
    if task.http is not None:
        yield from _http_strings(task)


def _http_strings(task: Task) -> Iterator[tuple[KeyPath, str]]:
    http = task.http
    assert http is not None
    yield ("http", "url"), http.url
    for table in ("headers", "params"):
        for name, value in getattr(http, table).items():
            yield ("http", table, name), value
    if http.body is not None:
        yield ("http", "body"), http.body
    yield from _nested_strings(("http", "json"), http.json_body)


def _nested_strings(key: KeyPath, value: Any) -> Iterator[tuple[KeyPath, str]]:
    if isinstance(value, str):
        yield key, value
    elif isinstance(value, dict):
        for name, item in value.items():
            yield from _nested_strings((*key, str(name)), item)
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            yield from _nested_strings((*key, i), item)
