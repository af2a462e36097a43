"""The run engine: one run as a structured task group over its workflow's graph.

engine.py     Engine: create_run / execute (and resume) / retry / cancel / running
run.py        RunExecution: the task group, watchers (timeout, deadlines), the end
attempts.py   one task: slots, the fire instant, the executor, retries
fire.py       an at_fire task around its instant (armed: waiting, then running; fire.late)
progress.py   pure bookkeeping: states, trigger-rule tallies, races
rules.py      trigger rules (Airflow's semantics), pure
retry.py      retry decisions, pure
requests.py   AttemptRequest: templates rendered, secrets expanded
templates.py  jinja2 sandbox; argv words; shell quoting
limits.py     slots: max_parallel_tasks, max_active_tasks, pools
live.py       the state one executing run shares between its tasks
shape.py      per-workflow derived data (graph, settings, output visibility)
timeline.py   data interval and working days
deadlines.py, notices.py, ids.py, params.py, config.py
"""

from __future__ import annotations

from tapri_daemon.engine.config import EngineConfig, NullNotifier, tune_gc
from tapri_daemon.engine.engine import Engine, RunStateError
from tapri_daemon.engine.ids import new_run_id
from tapri_daemon.engine.params import parse_assignments, parse_value

__all__ = [
    "Engine",
    "EngineConfig",
    "NullNotifier",
    "RunStateError",
    "new_run_id",
    "parse_assignments",
    "parse_value",
    "tune_gc",
]
