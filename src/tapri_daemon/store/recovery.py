"""What a daemon that died left behind, put right by the next one at start.

An attempt whose outcome is still None was running when its daemon died: it becomes LOST
(ended now, error "daemon <id> died"). If its process group is still alive it is killed,
but only when the recorded pid still names the same process: the start time in
/proc/<pid>/stat (field 22, clock ticks since boot) must equal the recorded one, otherwise
the pid was reused by an unrelated process, which is left alone. Every member of the group
(and of the session the task leader created) is sent SIGKILL.

Runs that had not finished are reported for the engine to resume; the engine keeps
finished tasks and their outputs and retries lost attempts per the task's retry policy.
"""

from __future__ import annotations

import contextlib
import os
import signal
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from tapri_daemon import logs
from tapri_daemon.interfaces import AttemptRecord, Outcome, Store

PROC = Path("/proc")


@dataclass(frozen=True, kw_only=True)
class ProcStat:
    pid: int
    state: str
    pgrp: int
    session: int
    start_time: int


@dataclass(frozen=True, kw_only=True)
class RecoveryReport:
    lost: tuple[AttemptRecord, ...]
    """The attempts now recorded as LOST (their stored form)."""
    killed: int
    """Leftover processes killed."""
    spared: tuple[int, ...]
    """Recorded pids now used by another process (start time differs): not touched."""
    resume: tuple[str, ...]
    """Unfinished runs, oldest first: the engine resumes them."""
    dead_daemons: tuple[str, ...]
    """Daemon instances that never recorded a stop (now marked stopped at ``now``)."""


def read_stat(pid: int, proc: Path = PROC) -> ProcStat | None:
    """Parse /proc/<pid>/stat; None when the process is gone."""
    try:
        text = (proc / str(pid) / "stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # comm (field 2) may hold spaces and parentheses: split after its closing one.
    rest = text[text.rindex(")") + 2 :].split()
    return ProcStat(
        pid=pid, state=rest[0], pgrp=int(rest[2]), session=int(rest[3]), start_time=int(rest[19])
    )


def start_time(pid: int, proc: Path = PROC) -> int | None:
    """A process's start time in clock ticks since boot (what AttemptRecord.pid_start_time is)."""
    stat = read_stat(pid, proc)
    return None if stat is None else stat.start_time


def group_members(pgid: int, session: int, proc: Path = PROC) -> list[int]:
    """Live (non-zombie) processes in process group ``pgid`` or in session ``session``."""
    members = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        stat = read_stat(int(entry.name), proc)
        if stat is None or stat.state == "Z":
            continue
        if stat.pgrp == pgid or stat.session == session:
            members.append(stat.pid)
    return sorted(members)


def _same_process(attempt: AttemptRecord, proc: Path) -> bool:
    if attempt.pid is None or attempt.pid_start_time is None:
        return False
    return start_time(attempt.pid, proc) == attempt.pid_start_time


def _ours(pid: int, pgid: int) -> bool:
    return pid == os.getpid() or pgid == os.getpgrp()


def kill_leftovers(attempt: AttemptRecord, proc: Path = PROC) -> int:
    """SIGKILL the attempt's still-living process group; return how many processes."""
    if attempt.pid is None or not _same_process(attempt, proc):
        return 0
    pgid = attempt.pgid if attempt.pgid is not None else attempt.pid
    if _ours(attempt.pid, pgid):
        return 0
    killed = 0
    for pid in group_members(pgid, attempt.pid, proc):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
            killed += 1
    return killed


def _pid_reused(attempt: AttemptRecord, proc: Path) -> bool:
    return (
        attempt.pid is not None
        and read_stat(attempt.pid, proc) is not None
        and not _same_process(attempt, proc)
    )


async def _mark_lost(
    store: Store, attempt: AttemptRecord, now: datetime, killed: int
) -> AttemptRecord:
    lost = replace(
        attempt,
        outcome=Outcome.LOST,
        ended_at=now,
        error=f"daemon {attempt.daemon_id or 'unknown'} died",
        killed=attempt.killed + killed,
    )
    await store.save_attempt(lost)
    run = await store.get_run(attempt.run_id)
    logs.get_logger().warning(
        logs.TASK_LOST,
        workflow=run.workflow if run else None,
        run_id=attempt.run_id,
        task_id=attempt.task_id,
        attempt=attempt.attempt,
        pid=attempt.pid,
        killed=killed,
        daemon_id=attempt.daemon_id,
    )
    return lost


async def _stale_daemons(store: Store, daemon_id: str, now: datetime) -> tuple[str, ...]:
    stale = [
        d
        for d in await store.daemon_instances(limit=1000)
        if d.stopped_at is None and d.daemon_id != daemon_id
    ]
    for daemon in stale:
        await store.record_daemon(replace(daemon, stopped_at=now))
    return tuple(d.daemon_id for d in stale)


async def recover(
    store: Store, *, daemon_id: str, now: datetime, kill: bool = True, proc: Path = PROC
) -> RecoveryReport:
    """Mark dead daemons' running attempts LOST, kill their leftovers, list runs to resume."""
    lost: list[AttemptRecord] = []
    spared: list[int] = []
    killed = 0
    for attempt in await store.running_attempts():
        if attempt.daemon_id == daemon_id:
            continue
        if _pid_reused(attempt, proc) and attempt.pid is not None:
            spared.append(attempt.pid)
        count = kill_leftovers(attempt, proc) if kill else 0
        killed += count
        lost.append(await _mark_lost(store, attempt, now, count))
    resume = tuple(run.run_id for run in await store.unfinished_runs())
    report = RecoveryReport(
        lost=tuple(lost),
        killed=killed,
        spared=tuple(spared),
        resume=resume,
        dead_daemons=await _stale_daemons(store, daemon_id, now),
    )
    logs.get_logger().info(
        logs.RECOVERY_FINISHED,
        lost=len(lost),
        killed=killed,
        spared=len(spared),
        resume=len(resume),
        dead_daemons=list(report.dead_daemons),
    )
    return report
