"""The daemon under a (simulated) systemd: sd_notify over a real datagram socket, the
watchdog, reload and stop notifications, the state-dir lock, journald priorities, the unit."""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from daemon_support import Daemon, NotifySocket, running, wait_for, write_config

from tapri_daemon.cli.control import unit_text

TICK = """
[workflow.tick]
schedule = "*/1 * * * * *"
[workflow.tick.task.a]
command = "true"
"""


def test_notify_ready_watchdog_reload_stopping(tmp_path: Path) -> None:
    write_config(tmp_path, TICK)
    notify = NotifySocket()
    env = {"NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "400000"}
    try:
        daemon = Daemon(tmp_path, env=env).start(wait_ready=False)
        try:
            ready = wait_for(lambda: notify.seen("READY", "1"), 20, "READY=1")
            assert "workflows" in ready[0].get("STATUS", "")
            wait_for(lambda: len(notify.seen("WATCHDOG", "1")) >= 3, 10, "three WATCHDOG=1")
            daemon.signal(signal.SIGHUP)
            reloading = wait_for(lambda: notify.seen("RELOADING", "1"), 10, "RELOADING=1")
            assert int(reloading[0]["MONOTONIC_USEC"]) > 0
            wait_for(lambda: len(notify.seen("READY", "1")) >= 2, 10, "READY=1 after reload")
            assert daemon.logged("config.reloaded")
            daemon.signal(signal.SIGTERM)
            assert daemon.proc is not None and daemon.proc.wait(15) == 0
            assert notify.seen("STOPPING", "1")
            order = [next(iter(m)) for m in notify.poll() if "WATCHDOG" not in m]
            assert order.index("STOPPING") > order.index("RELOADING")
        finally:
            daemon.kill()
    finally:
        notify.close()


def test_second_daemon_exits_at_once_and_leaves_the_first_alone(tmp_path: Path) -> None:
    write_config(tmp_path, TICK)
    with running(tmp_path) as first:
        started = time.monotonic()
        second = subprocess.run(
            [*first.cli("--version").args[:3], "--config", str(first.config), "daemon"],
            capture_output=True,
            text=True,
            timeout=30,
            cwd=tmp_path,
        )
        assert second.returncode != 0
        assert "locked by another tapri daemon" in second.stdout + second.stderr
        assert f"pid {first.proc.pid}" in second.stdout + second.stderr  # type: ignore[union-attr]
        assert time.monotonic() - started < 5  # interpreter start included (~0.5 s idle)
        fires = len(first.logged("fire.recorded"))
        wait_for(lambda: len(first.logged("fire.recorded")) > fires, 5, "the first keeps firing")
        assert first.cli("status", "--json").returncode == 0


def test_journal_stream_prefixes_syslog_priorities(tmp_path: Path) -> None:
    write_config(tmp_path, TICK)
    with running(tmp_path, env={"JOURNAL_STREAM": "8:12345"}) as daemon:
        wait_for(lambda: daemon.logged("clock.unsynchronised") or daemon.logged("fire.recorded"))
    lines = daemon.log_path.read_text().splitlines()
    ready = next(line for line in lines if '"daemon.ready"' in line)
    assert ready.startswith("<6>{")


def test_config_error_at_start_exits_78(tmp_path: Path) -> None:
    write_config(
        tmp_path, '[workflow.x]\nschedule = "61 * * * *"\n[workflow.x.task.a]\ncommand="true"\n'
    )
    daemon = Daemon(tmp_path).start(wait_ready=False)
    try:
        assert daemon.proc is not None and daemon.proc.wait(20) == 78
        assert "workflows.toml:2" in daemon.log_path.read_text()
    finally:
        daemon.kill()


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="needs systemd-analyze")
def test_unit_passes_systemd_analyze(tmp_path: Path) -> None:
    unit = tmp_path / "tapri.service"
    unit.write_text(unit_text())
    assert "/usr/local/bin/tapri" not in unit.read_text()
    verify = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60
    )
    assert verify.returncode == 0, verify.stderr
    security = subprocess.run(
        ["systemd-analyze", "security", "--offline=true", "--threshold=25", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert security.returncode == 0, security.stdout + security.stderr
    exposure = float(
        security.stdout.split("Overall exposure level for tapri.service:")[1].split()[0]
    )
    assert exposure <= 2.5


def test_unit_file_in_the_repository_is_the_packaged_one() -> None:
    repo = Path(__file__).parents[2] / "systemd" / "tapri.service"
    packaged = Path(__file__).parents[2] / "src" / "tapri_daemon" / "daemon" / "tapri.service"
    assert repo.read_text() == packaged.read_text()
    for key in (
        "Type=notify",
        "ExecReload=/usr/local/bin/tapri reload --wait",
        "KillMode=mixed",
        "RestartPreventExitStatus=78",
        "WatchdogSec=",
        "UMask=0027",
    ):
        assert key in repo.read_text()
