"""Validation + graph build of a 10,000-task workflow (target: <= 1 s on the 2-core sandbox).

The workflow is the engine benchmark's: a root, a 9,000-wide fan-out after it and a
1,000-long chain. It is written as TOML and loaded the way `tapri validate` loads files
(tomllib, pydantic, cross-checks with located problems), then TaskGraph.of builds the graph.

    python bench/validate_10k.py [--fan-out 9000] [--chain 1000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
import tomllib
from pathlib import Path

from tapri_daemon.graph import TaskGraph
from tapri_daemon.spec.load import load_definitions
from tapri_daemon.spec.settings import load_settings


def workflow_toml(fan_out: int, chain: int, module: str = "bench_tasks:noop") -> str:
    lines = ["[workflow.big]", 'description = "10k tasks"', ""]

    def task(name: str, after: str | None) -> None:
        lines.append(f"[workflow.big.task.{name}]")
        lines.append(f'python = "{module}"')
        if after:
            lines.append(f'after = "{after}"')
        lines.append("")

    task("root", None)
    for i in range(fan_out):
        task(f"fan_{i}", "root")
    previous = "root"
    for i in range(chain - 1):
        task(f"chain_{i}", previous)
        previous = f"chain_{i}"
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--fan-out", type=int, default=9000)
    parser.add_argument("--chain", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "workflows.toml"
        path.write_text(workflow_toml(args.fan_out, args.chain))
        settings = load_settings(None, state_dir=Path(folder) / "state", workflows=[path])
        parse_began = time.perf_counter()
        tomllib.loads(path.read_text())
        parsed = time.perf_counter() - parse_began
        began = time.perf_counter()
        loaded = load_definitions(settings)
        validated = time.perf_counter()
        graph = TaskGraph.of(loaded.definitions.workflow["big"])
        built = time.perf_counter()
    tasks = len(graph.order)
    print(f"tasks:              {tasks}")
    print(f"load + validate:    {validated - began:.3f} s  (of which TOML parsing ~{parsed:.3f} s)")
    print(f"graph build:        {built - validated:.3f} s")
    print(f"total:              {built - began:.3f} s  (target <= 1 s)")


if __name__ == "__main__":
    main()
