"""SIGTERM: every task gets SIGTERM at once, the stubborn one SIGKILL at the grace,
nothing survives, attempts are recorded cancelled, the daemon exits 0."""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

from daemon_support import Daemon, alive, attempts_of, runs_of, wait_for, write_config

from tapri_daemon.interfaces import Outcome, RunState

THREE = """
[workflow.three]
[workflow.three.task.polite]
command = ["{python}", "{dir}/task.py", "polite"]
[workflow.three.task.stubborn]
command = ["{python}", "{dir}/task.py", "stubborn"]
[workflow.three.task.parent]
command = ["{python}", "{dir}/task.py", "parent"]
"""

TASK = """
import os, signal, subprocess, sys, time
name = sys.argv[1]
here = os.path.dirname(os.path.abspath(__file__))

def on_term(*_):
    with open(os.path.join(here, name + ".term"), "w") as f:
        f.write(repr(time.time()))
    if name != "stubborn":
        sys.exit(0)

signal.signal(signal.SIGTERM, on_term)
if name == "parent":
    child = subprocess.Popen(["sleep", "300"])
    with open(os.path.join(here, "child.pid"), "w") as f:
        f.write(str(child.pid))
with open(os.path.join(here, name + ".pid"), "w") as f:
    f.write(str(os.getpid()))
while True:
    time.sleep(0.05)
"""


def _pid(folder: Path, name: str) -> int:
    return int((folder / f"{name}.pid").read_text())


def test_sigterm_stops_three_tasks_and_exits_0(tmp_path: Path) -> None:
    (tmp_path / "task.py").write_text(TASK)
    workflows = THREE.format(dir=tmp_path, python=sys.executable)
    write_config(tmp_path, workflows, shutdown_grace="2s")
    daemon = Daemon(tmp_path).start()
    try:
        assert daemon.cli("trigger", "three").returncode == 0
        names = ("polite", "stubborn", "parent", "child")
        wait_for(lambda: all((tmp_path / f"{n}.pid").exists() for n in names), 15, "pids")
        pids = {name: _pid(tmp_path, name) for name in names}
        assert all(alive(pid) for pid in pids.values())
        sent = time.time()
        daemon.signal(signal.SIGTERM)
        assert daemon.proc is not None and daemon.proc.wait(20) == 0
        took = time.time() - sent
    finally:
        daemon.kill()
    terms = {
        n: float((tmp_path / f"{n}.term").read_text()) for n in ("polite", "stubborn", "parent")
    }
    assert max(terms.values()) - min(terms.values()) < 0.5  # all got TERM at once
    assert min(terms.values()) - sent < 1.0
    assert 2.0 <= took < 10.0  # the stubborn one was KILLed at the 2 s grace
    assert not any(alive(pid) for pid in pids.values())  # nothing survives
    run = runs_of(daemon.db, "three")[0]
    assert run.state is RunState.CANCELLED
    attempts = {a.task_id: a for a in attempts_of(daemon.db, run.run_id)}
    assert {a.outcome for a in attempts.values()} == {Outcome.CANCELLED}
    assert daemon.logged("daemon.stopping") and daemon.logged("daemon.stopped")
