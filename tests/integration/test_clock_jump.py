"""A real wall-clock step seen by a real daemon, without touching the machine's clock.

libfaketime (LD_PRELOAD into the daemon process only) adds an offset to CLOCK_REALTIME,
read from a file the test rewrites (re-read at most once a second); CLOCK_MONOTONIC and
CLOCK_BOOTTIME stay real, exactly as after `date -s` or an NTP step. The daemon must see the
jump, log it, apply the catch-up rules after a forward step, and never hand out an instant
at or before its last recorded fire after a backward step.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from daemon_support import last_fire, running, runs_of, wait_for, write_config

from tapri_daemon.interfaces import FireRecord, FireStatus, Trigger
from tapri_daemon.store.sqlite import SQLiteStore

MINUTELY = """
[workflow.minutely]
schedule = "* * * * *"
[workflow.minutely.task.a]
command = "true"
"""
PROBE = "import time; print(time.time())"


def _library() -> Path | None:
    spec = importlib.util.find_spec("libfaketime")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(spec.submodule_search_locations[0], "vendor", "libfaketime", "src")
    return path / "libfaketime.so.1"


def faketime_env(offset_file: Path) -> dict[str, str]:
    library = _library()
    if library is None or not library.exists():
        pytest.skip("libfaketime (the test extra) is not installed")
    env = {
        "LD_PRELOAD": str(library),
        "FAKETIME_TIMESTAMP_FILE": str(offset_file),
        "FAKETIME_CACHE_DURATION": "1",
        "DONT_FAKE_MONOTONIC": "1",
    }
    _probe(env, offset_file.with_name("probe"))
    return env


def _probe(env: dict[str, str], probe_file: Path) -> None:
    """Skip where the bundled library does not load (it is built for x86-64 Linux)."""
    probe_file.write_text("+1h\n")
    probe = {**env, "FAKETIME_TIMESTAMP_FILE": str(probe_file)}
    done = subprocess.run([sys.executable, "-c", PROBE], env={**os.environ, **probe},
                          capture_output=True, text=True, timeout=30, check=False)  # fmt: skip
    real = datetime.now(UTC).timestamp()
    if done.returncode != 0 or float(done.stdout or 0) - real < 3000:
        pytest.skip(f"libfaketime does not work here: {done.stderr.strip()[:200]}")


def _seed(db: Path, instant: datetime) -> None:
    async def main() -> None:
        async with SQLiteStore.open(db) as store:
            fire = FireRecord(workflow="minutely", scheduled_for=instant, recorded_at=instant,
                              status=FireStatus.STARTED)  # fmt: skip
            assert await store.record_fire(fire)

    asyncio.run(main())


def _this_minute() -> datetime:
    """The current minute, with at least 20 s of it left (the test fits in one minute)."""
    wait_for(lambda: datetime.now(UTC).second < 40, 25)
    return datetime.now(UTC).replace(second=0, microsecond=0)


@pytest.mark.slow
def test_a_stepped_wall_clock_is_caught_up_forward_and_never_replayed_backward(
    tmp_path: Path,
) -> None:
    offset = tmp_path / "faketime"
    offset.write_text("+0\n")
    env = faketime_env(offset)
    write_config(tmp_path, MINUTELY)
    db = tmp_path / "state" / "tapri.sqlite3"
    db.parent.mkdir()
    minute = _this_minute()
    _seed(db, minute)  # fired this minute already: nothing is owed at start
    with running(tmp_path, env=env) as daemon:
        assert runs_of(db, "minutely") == []
        offset.write_text("+2h\n")
        (forward,) = wait_for(lambda: daemon.logged("clock.jumped"), 15, "the forward jump")
        run = wait_for(lambda: runs_of(db, "minutely"), 10, "the catch-up run")[0]
        missed = daemon.logged("schedule.missed")
        offset.write_text("+0\n")
        jumps = wait_for(lambda: daemon.logged("clock.jumped")[1:], 15, "the backward jump")
        status = json.loads(daemon.cli("status", "--json").stdout)
    assert forward["kind"] == "forward" and 7190 < forward["offset_s"] < 7210, forward
    assert run.trigger is Trigger.CATCHUP and run.scheduled_for == minute + timedelta(hours=2)
    assert [m["missed"] for m in missed] == [120]
    fire = last_fire(db, "minutely")
    assert fire is not None and fire.scheduled_for == run.scheduled_for
    assert fire.missed_count == 120 and fire.run_id == run.run_id
    (backward,) = jumps
    assert backward["kind"] == "backward" and -7210 < backward["offset_s"] < -7190, backward
    next_fire = datetime.fromisoformat(status["next_fires"]["minutely"])
    assert next_fire > run.scheduled_for  # not the next real minute: that one is owed no more
    assert len(runs_of(db, "minutely")) == 1
