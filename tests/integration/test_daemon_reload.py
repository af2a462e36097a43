"""Reload: broken TOML keeps the old schedules firing and `reload --wait` exits 78 with the
located error; a good edit then applies, with the diff logged."""

from __future__ import annotations

import signal
from pathlib import Path

from daemon_support import running, wait_for, write_config

TICK = """
[workflow.tick]
schedule = "*/1 * * * * *"
[workflow.tick.task.a]
command = "true"
"""

BROKEN = (
    TICK
    + """
[workflow.tock
schedule = "*/1 * * * * *"
"""
)

GOOD = (
    TICK.replace('"*/1 * * * * *"', '"*/2 * * * * *"')
    + """
[workflow.tock]
schedule = "@daily"
[workflow.tock.task.a]
command = "true"
"""
)


def _fires(daemon: object) -> int:
    return len(daemon.logged("fire.recorded"))  # type: ignore[attr-defined]


def test_broken_then_good_edit(tmp_path: Path) -> None:
    write_config(tmp_path, TICK)
    with running(tmp_path) as daemon:
        wait_for(lambda: _fires(daemon) >= 1, 10, "a first fire")
        (tmp_path / "workflows.toml").write_text(BROKEN)
        daemon.signal(signal.SIGHUP)
        rejected = wait_for(lambda: daemon.logged("config.rejected"), 10, "config.rejected")
        assert any("workflows.toml:" in p for p in rejected[0]["problems"])
        before = _fires(daemon)
        wait_for(lambda: _fires(daemon) >= before + 2, 10, "the old schedule keeps firing")

        refused = daemon.cli("reload", "--wait")
        assert refused.returncode == 78
        assert "workflows.toml:" in refused.stderr
        status = daemon.cli("status", "--json")
        assert '"ok": false' in status.stdout

        (tmp_path / "workflows.toml").write_text(GOOD)
        applied = daemon.cli("reload", "--wait")
        assert applied.returncode == 0, applied.stderr
        assert "added: tock" in applied.stdout and "rescheduled: tick" in applied.stdout
        reloaded = daemon.logged("config.reloaded")[-1]
        assert reloaded["added"] == ["tock"] and reloaded["rescheduled"] == ["tick"]
        assert daemon.cli("trigger", "tock", "--wait").returncode == 0


def test_watch_reloads_on_file_change(tmp_path: Path) -> None:
    write_config(tmp_path, TICK)
    with running(tmp_path, args=("--watch",)) as daemon:
        (tmp_path / "workflows.toml").write_text(GOOD)
        reloaded = wait_for(lambda: daemon.logged("config.reloaded"), 10, "config.reloaded")
        assert reloaded[0]["added"] == ["tock"]
