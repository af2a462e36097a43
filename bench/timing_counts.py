"""How fast the pure schedule math answers the questions the daemon asks most.

Run: /work/venv/bin/python bench/timing_counts.py
Prints the best of several runs (ms) for count_between over three days of `* * * * *`
(4320 fires) with and without a calendar, `every 2m` by arithmetic, and next_fire.
"""

from __future__ import annotations

import timeit
from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

from tapri_daemon.model import Calendar, Task, Workflow
from tapri_daemon.timing.schedule import WorkflowSchedule

KOLKATA = ZoneInfo("Asia/Kolkata")
CALENDARS = {"nse": Calendar(country="IN", market="XNSE")}
AFTER = datetime(2027, 1, 4, tzinfo=KOLKATA)
UNTIL = datetime(2027, 1, 7, tzinfo=KOLKATA)


def build(**fields: object) -> WorkflowSchedule:
    workflow = Workflow(task={"t": Task(command="true")}, **fields)
    return WorkflowSchedule.from_workflow(
        workflow, default_timezone="Asia/Kolkata", calendars=CALENDARS
    )


def best_ms(call: Callable[[], object], repeat: int = 7) -> float:
    return min(timeit.repeat(call, number=1, repeat=repeat)) * 1000


def main() -> None:
    minutely = build(schedule="* * * * *")
    minutely_nse = build(schedule="* * * * *", calendar="nse")
    every = build(schedule="every 2m")
    rbi = build(schedule="0 15 * * 1-5", calendar="nse")
    cases: list[tuple[str, Callable[[], object]]] = [
        ("count_between * * * * *, 3 days (4320)", lambda: minutely.count_between(AFTER, UNTIL)),
        ("  same, NSE calendar", lambda: minutely_nse.count_between(AFTER, UNTIL)),
        ("count_between every 2m, 3 days (2160)", lambda: every.count_between(AFTER, UNTIL)),
        ("next_fire 0 15 * * 1-5 + NSE", lambda: rbi.next_fire(AFTER)),
        ("previous_fire 0 15 * * 1-5 + NSE", lambda: rbi.previous_fire(UNTIL)),
        (
            "count_between 0 15 * * 1-5 + NSE, 1 year",
            lambda: rbi.count_between(AFTER, AFTER.replace(year=2028)),
        ),
    ]
    for name, call in cases:
        print(f"{name:45s} {best_ms(call):8.2f} ms")


if __name__ == "__main__":
    main()
