"""Crash recovery and fires across restarts, with real daemons on one state dir."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from daemon_support import (
    Daemon,
    alive,
    attempts_of,
    last_fire,
    running,
    runs_of,
    tasks_of,
    wait_for,
    write_config,
)

from tapri_daemon.interfaces import (
    FireRecord,
    FireStatus,
    Outcome,
    RunState,
    TaskRecord,
    Trigger,
)
from tapri_daemon.store.sqlite import SQLiteStore

CHAIN = """
[workflow.chain]
flow = "a >> b >> c"
[workflow.chain.task.a]
shell = "echo a >> {dir}/a.count"
[workflow.chain.task.b]
# attempt 1 sleeps 30 s (it is killed with the daemon); attempt 2 ends at once
shell = "test -e {dir}/b.once && exit 0; touch {dir}/b.once; exec sleep 30"
retries = 1
retry_delay = "0s"
[workflow.chain.task.c]
shell = "echo c >> {dir}/c.count"
"""


def _finished(db: Path, run_id: str) -> dict[str, TaskRecord] | None:
    tasks = tasks_of(db, run_id)
    return tasks if "c" in tasks and tasks["c"].state.finished else None


def test_kill_9_in_the_middle_of_a_chain_then_restart(tmp_path: Path) -> None:
    write_config(tmp_path, CHAIN.format(dir=tmp_path))
    first = Daemon(tmp_path).start()
    try:
        triggered = first.cli("trigger", "chain", "--json")
        assert triggered.returncode == 0, triggered.stderr
        run_id = triggered.stdout.split('"run_id": "')[1].split('"')[0]
        b1 = wait_for(
            lambda: [a for a in attempts_of(first.db, run_id, "b") if a.pid], 15, "b running"
        )[0]
        assert alive(b1.pid)  # type: ignore[arg-type]
    finally:
        first.kill()  # SIGKILL: no cleanup at all
    assert alive(b1.pid)  # type: ignore[arg-type]  # the orphaned sleep 30 is still there
    restarted = time.monotonic()
    with running(tmp_path) as second:
        final = wait_for(lambda: _finished(second.db, run_id), 20, "c finished")
        b2_started = attempts_of(second.db, run_id, "b")[1].started_at
    assert not alive(b1.pid)  # type: ignore[arg-type]  # b's old group was killed
    b = attempts_of(second.db, run_id, "b")
    assert [(x.attempt, x.outcome) for x in b] == [(1, Outcome.LOST), (2, Outcome.SUCCESS)]
    assert b2_started.timestamp() - (time.time() - (time.monotonic() - restarted)) < 10
    assert [t.state.value for t in final.values()] == ["success"] * 3
    assert (tmp_path / "a.count").read_text() == "a\n"  # a not re-run
    assert (tmp_path / "c.count").read_text() == "c\n"  # c ran once
    assert runs_of(second.db, "chain")[0].state is RunState.SUCCESS
    assert second.logged("recovery.finished")[-1]["lost"] == 1


TICK = """
[workflow.tick]
schedule = "*/1 * * * * *"
[workflow.tick.task.a]
command = "true"
"""


def test_restarts_across_fire_instants_never_duplicate_one(tmp_path: Path) -> None:
    write_config(tmp_path, TICK)
    for _ in range(3):
        daemon = Daemon(tmp_path).start()
        try:
            wait_for(lambda d=daemon: len(d.logged("fire.recorded")) >= 2, 10, "two fires")
        finally:
            daemon.kill()  # SIGKILL right after a fire, then start again at once
    runs = [r for r in runs_of(tmp_path / "state" / "tapri.sqlite3", "tick") if r.scheduled_for]
    per_instant = Counter(r.scheduled_for for r in runs)
    assert runs and max(per_instant.values()) == 1


MINUTELY = """
[workflow.minutely]
schedule = "* * * * *"
[workflow.minutely.task.a]
command = "true"
"""


def _seed(db: Path, instant: datetime) -> None:
    async def main() -> None:
        async with SQLiteStore.open(db) as store:
            fire = FireRecord(
                workflow="minutely",
                scheduled_for=instant,
                recorded_at=instant,
                status=FireStatus.STARTED,
            )
            assert await store.record_fire(fire)

    asyncio.run(main())


def test_three_days_down_gives_one_catchup_run_with_4320_missed(tmp_path: Path) -> None:
    write_config(tmp_path, MINUTELY)
    db = tmp_path / "state" / "tapri.sqlite3"
    db.parent.mkdir()
    now = datetime.now(UTC)
    if now.second >= 50:  # start inside the same minute as the seed
        wait_for(lambda: datetime.now(UTC).second < 50, 15)
        now = datetime.now(UTC)
    minute = now.replace(second=0, microsecond=0)
    _seed(db, minute - timedelta(days=3))
    with running(tmp_path) as daemon:
        run = wait_for(lambda: runs_of(db, "minutely"), 10, "the catch-up run")[0]
        missed = daemon.logged("schedule.missed")
    assert run.trigger is Trigger.CATCHUP and run.scheduled_for == minute
    assert [m["missed"] for m in missed] == [4320]
    fire = last_fire(db, "minutely")
    assert fire is not None and fire.missed_count == 4320 and fire.run_id == run.run_id
