"""How long loading and validating definitions takes, for a small and a large file set.

Run: /work/venv/bin/python bench/bench_spec_load.py
Prints the median of several loads (settings + every file + cross-checks) per size;
every template string is distinct, as in real files.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from tapri_daemon.spec import templates
from tapri_daemon.spec.load import load_definitions, load_settings

TASKS = 8


def _workflow(n: int) -> str:
    lines = [
        f"[workflow.wf_{n}]",
        f'schedule = "{n % 60} */2 * * 1-5"',
        'timezone = "Asia/Kolkata"',
        "params = { limit = 10 }",
        f'flow = ["t0 >> [{", ".join(f"t{i}" for i in range(1, TASKS - 1))}] >> t{TASKS - 1}"]',
    ]
    for i in range(TASKS):
        lines += [
            f"[workflow.wf_{n}.task.t{i}]",
            f'command = ["echo", "{{{{ params.limit }}}}-{n}-{i}", "{{{{ ds }}}}/{n}/{i}"]',
            'retry_delay = "10s"',
        ]
    return "\n".join(lines) + "\n"


def _files(folder: Path, workflows: int, per_file: int) -> list[Path]:
    paths = []
    for start in range(0, workflows, per_file):
        path = folder / f"defs_{start:05d}.toml"
        path.write_text("".join(_workflow(n) for n in range(start, start + per_file)))
        paths.append(path)
    return paths


def _measure(paths: list[Path], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        templates._analyse.cache_clear()  # every template is new in a real load
        started = time.perf_counter()
        load_definitions(load_settings(None, workflows=paths, environ={}))
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    for workflows, rounds in ((10, 9), (100, 5), (500, 3)):
        with tempfile.TemporaryDirectory() as tmp:
            paths = _files(Path(tmp), workflows, per_file=10)
            seconds = _measure(paths, rounds)
        print(
            f"{workflows:4d} workflows x {TASKS} tasks in {len(paths):3d} files: "
            f"{seconds * 1000:8.1f} ms per load (median of {rounds})"
        )


if __name__ == "__main__":
    main()
