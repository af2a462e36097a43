"""The worker process of a plain (sync) python task, and the argument rules of every one.

Run by path, so it imports only the standard library:
``python -P .../worker.py REQUEST RESULT [RELEASE_FD STATUS_FD FIRE_AT_NS NICE]``.
REQUEST is a JSON file ``{"target": "module:function", "python_path": [...],
"kwargs": {...}}``; the worker imports the function, injects the arguments, calls it (an
``async def`` is run with ``asyncio.run``) and writes RESULT: ``{"output": value}`` or
``{"error": "Type: message"}``.
A traceback goes to stderr, which the executor captures into the attempt's log. The exit
code is 0 whenever RESULT was written; anything else means the worker itself died.

Armed (a precise fire: the gate arguments given, see release.py): the import and the
argument binding happen first, then the worker waits for its release exactly as the
command launcher does (``launcher.wait_for_release``: ``ready``, the release, a spin to
the instant, the ``go NS`` stamp on the status pipe, any boost dropped) and calls the
function right after. A failed import or binding ends the worker at once, before the
instant; a release pipe closed without a release exits 75 without calling anything.

Arguments are injected by parameter name from the available mapping (params, outputs, run
and the task's args keys); a function taking ``**kwargs`` gets all of them. A required
parameter that is not available fails the attempt before the call.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

NOT_RELEASED = 75
"""Armed, and the release pipe closed without a release (as launcher.py)."""


def split_target(target: str) -> tuple[str, str]:
    module, _, function = target.partition(":")
    return module, function


def add_paths(paths: Sequence[str]) -> None:
    """Append the python path entries (appended: a task module never shadows the stdlib)."""
    for path in paths:
        if path not in sys.path:
            sys.path.append(path)


def load(target: str, paths: Sequence[str]) -> Callable[..., Any]:
    module_name, function = split_target(target)
    add_paths(paths)
    module = importlib.import_module(module_name)
    found = getattr(module, function, None)
    if found is None:
        raise AttributeError(f"module {module_name!r} has no attribute {function!r}")
    if not callable(found):
        raise TypeError(f"{target} is not a function")
    return found  # type: ignore[no-any-return]


@dataclass(frozen=True, kw_only=True)
class Plan:
    """Which arguments a function takes by name."""

    names: frozenset[str]
    required: tuple[str, ...]
    takes_all: bool


def plan(function: Callable[..., Any]) -> Plan:
    import inspect

    names: set[str] = set()
    required: list[str] = []
    takes_all = False
    for param in inspect.signature(function).parameters.values():
        if param.kind is param.VAR_KEYWORD:
            takes_all = True
        elif param.kind is param.VAR_POSITIONAL:
            continue
        elif param.kind is param.POSITIONAL_ONLY:
            if param.default is param.empty:
                required.append(param.name)
        else:
            names.add(param.name)
            if param.default is param.empty:
                required.append(param.name)
    return Plan(names=frozenset(names), required=tuple(required), takes_all=takes_all)


def bind(
    target: str, shape: Plan, available: Mapping[str, Any]
) -> tuple[dict[str, Any], str | None]:
    """The keyword arguments to pass, or why the function cannot be called."""
    missing = [name for name in shape.required if name not in available or name not in shape.names]
    if missing:
        offered = ", ".join(sorted(available)) or "nothing"
        return {}, (
            f"{target} needs the argument {missing[0]!r}, which tapri does not provide "
            f"(it passes by name: {offered})"
        )
    if shape.takes_all:
        return dict(available), None
    return {name: value for name, value in available.items() if name in shape.names}, None


def describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _launcher() -> Any:
    """launcher.py, next to this file (run by path, the package is not imported)."""
    import importlib.util

    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "launcher.py")
    spec = importlib.util.spec_from_file_location("_tapri_launcher", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _released(gate: Sequence[str]) -> bool:
    """Armed: wait for the release and the instant (False if the pipe closed first)."""
    release, status, fire_at_ns = (int(word) for word in gate[:3])
    os.set_inheritable(release, False)
    os.set_inheritable(status, False)
    launcher = _launcher()
    nice = launcher.parse_nice(gate[3])
    return launcher.wait_for_release(release, status, fire_at_ns, nice) is not None


def _call(request: Mapping[str, Any], gate: Sequence[str] = ()) -> dict[str, Any] | None:
    target = request["target"]
    function = load(target, request.get("python_path", ()))
    kwargs, problem = bind(target, plan(function), request.get("kwargs", {}))
    if problem is not None:
        return {"error": problem}
    if gate and not _released(gate):
        return None
    value = function(**kwargs)
    if hasattr(value, "__await__"):
        import asyncio

        value = asyncio.run(_awaited(value))
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError, RecursionError) as exc:
        return {"error": f"the return value is not JSON-serialisable: {exc}"}
    return {"output": value}


async def _awaited(awaitable: Any) -> Any:
    return await awaitable


def _write(path: str, result: Mapping[str, Any]) -> None:
    text = json.dumps(result, allow_nan=False)
    partial = path + ".part"
    with open(partial, "w", encoding="utf-8") as file:
        file.write(text)
    os.replace(partial, path)


def main(argv: Sequence[str]) -> int:
    request_path, result_path = argv[1], argv[2]
    gate = argv[3:7]
    with open(request_path, encoding="utf-8") as file:
        request = json.load(file)
    try:
        result = _call(request, gate)
    except BaseException as exc:  # the task's exception, SystemExit included
        import traceback

        traceback.print_exc()
        result = {"error": describe(exc)}
    if result is None:
        return NOT_RELEASED
    sys.stdout.flush()
    _write(result_path, result)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
