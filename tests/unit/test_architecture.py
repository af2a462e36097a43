"""The layering promised in docs/architecture.md, checked on the source itself.

Data flows downhill: a module may import only from its own layer or the layers below it,
and there are no import cycles (lazy imports inside functions count too).
"""

from __future__ import annotations

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "tapri_daemon"

# Layer of each top-level module or package, lowest first.
LAYERS: dict[str, int] = {
    "errors": 0,
    "durations": 0,
    "zones": 0,
    "model": 0,
    "interfaces": 0,
    "logs": 0,
    "clocks": 0,
    "graph": 0,
    "credentials": 0,
    "timing": 1,
    "spec": 2,
    "engine": 2,
    "executors": 3,
    "store": 3,
    "notify": 3,
    "views": 3,
    "metrics": 3,
    "testing": 3,
    "daemon": 4,
    "cli": 5,
    "__main__": 6,
    "__init__": 0,
}
# Same-layer neighbours that must stay apart: the engine knows only the seams.
FORBIDDEN = {
    ("engine", "spec"),
    ("engine", "executors"),
    ("engine", "store"),
    ("engine", "notify"),
    ("executors", "store"),
    ("executors", "notify"),
    ("store", "executors"),
    ("notify", "store"),
    ("notify", "executors"),
    ("testing", "executors"),
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in SRC.rglob("*.py")}
    return {
        name: {i for i in _imports(path) if i in modules and i != name}
        for name, path in modules.items()
    }


def _area(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def test_no_import_cycles() -> None:
    graph = _graph()
    # A package's __init__ re-exporting its children is not a cycle of behaviour.
    edges = {m: {d for d in deps if not d.startswith(m + ".")} for m, deps in graph.items()}
    try:
        TopologicalSorter(edges).prepare()
    except CycleError as exc:
        pytest.fail("import cycle: " + " -> ".join(exc.args[1]))


def test_layers_only_import_downhill() -> None:
    wrong = []
    for module, deps in _graph().items():
        here = _area(module)
        for dep in deps:
            there = _area(dep)
            if LAYERS[there] > LAYERS[here] or (here, there) in FORBIDDEN:
                wrong.append(f"{module} imports {dep}")
    assert wrong == []


def test_every_area_has_a_layer() -> None:
    areas = {_area(m) for m in _graph()}
    assert areas <= set(LAYERS), f"give these a layer: {sorted(areas - set(LAYERS))}"


def test_only_the_scheduler_module_imports_apscheduler() -> None:
    users = sorted(
        _module_name(p)
        for p in SRC.rglob("*.py")
        if any(i.split(".")[0] == "apscheduler" for i in _imports(p))
    )
    assert users == ["tapri_daemon.daemon.scheduler"]


_LOG_METHODS = {"debug", "info", "warning", "error", "exception", "critical"}


def _literal_log_events(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [
        f"{path.name}:{node.lineno}: {node.args[0].value!r}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in _LOG_METHODS
        and node.args
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
    ]


def test_log_events_come_from_the_vocabulary() -> None:
    literal = [hit for p in SRC.rglob("*.py") for hit in _literal_log_events(p)]
    assert literal == [], "use a constant from tapri_daemon.logs"


def test_every_event_is_documented() -> None:
    from tapri_daemon.logs import VOCABULARY

    doc = (SRC.parents[1] / "docs" / "logging.md").read_text(encoding="utf-8")
    assert sorted(e for e in VOCABULARY if f"`{e}`" not in doc) == []
