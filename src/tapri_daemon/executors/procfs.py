"""Reading Linux's /proc: a process's identity, its children, whether it carries a token.

Every function returns None / an empty result when the process is gone (or /proc cannot
be read), because a process may exit between any two calls. Files are read with raw
``os.open``/``os.read`` (no buffered file objects): these run on the event loop, often.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

_CHUNK = 65536


@dataclass(frozen=True, kw_only=True)
class ProcStat:
    """The fields of /proc/PID/stat that tapri uses."""

    pid: int
    state: str
    ppid: int
    pgid: int
    sid: int
    threads: int
    start_time: int
    """Clock ticks since boot (field 22): with the pid, identifies a process for good."""

    @property
    def zombie(self) -> bool:
        """Exited but not yet reaped (or being torn down): nothing left to signal."""
        return self.state in ("Z", "X")


def _read(path: str, limit: int = _CHUNK) -> bytes | None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        return _read_all(fd, limit)
    except OSError:
        return None
    finally:
        os.close(fd)


def _read_all(fd: int, limit: int) -> bytes:
    parts: list[bytes] = []
    size = 0
    while size < limit:
        part = os.read(fd, _CHUNK)
        if not part:
            break
        parts.append(part)
        size += len(part)
    return b"".join(parts)


def parse_stat(pid: int, raw: bytes) -> ProcStat | None:
    """Parse /proc/PID/stat; the command name may hold spaces and parentheses."""
    close = raw.rfind(b")")
    fields = raw[close + 2 :].split()
    if close < 0 or len(fields) < 20:
        return None
    return ProcStat(
        pid=pid,
        state=fields[0].decode("ascii", "replace"),
        ppid=int(fields[1]),
        pgid=int(fields[2]),
        sid=int(fields[3]),
        threads=int(fields[17]),
        start_time=int(fields[19]),
    )


def read_stat(pid: int) -> ProcStat | None:
    raw = _read(f"/proc/{pid}/stat", 4096)
    return parse_stat(pid, raw) if raw else None


def start_time(pid: int) -> int | None:
    stat = read_stat(pid)
    return stat.start_time if stat is not None else None


def _thread_ids(pid: int, threads: int) -> list[str]:
    if threads <= 1:
        return [str(pid)]
    try:
        return os.listdir(f"/proc/{pid}/task")
    except OSError:
        return [str(pid)]


def children(pid: int, threads: int = 1) -> list[int]:
    """Direct children of every thread of ``pid`` (needs CONFIG_PROC_CHILDREN)."""
    found: list[int] = []
    for tid in _thread_ids(pid, threads):
        raw = _read(f"/proc/{pid}/task/{tid}/children")
        if raw:
            found.extend(int(word) for word in raw.split())
    return found


def thread_children(pid: int, tid: int) -> list[int]:
    """Direct children of one thread (the daemon's main thread gets reparented orphans)."""
    raw = _read(f"/proc/{pid}/task/{tid}/children")
    return [int(word) for word in raw.split()] if raw else []


def children_supported() -> bool:
    pid = os.getpid()
    return os.path.exists(f"/proc/{pid}/task/{pid}/children")


def env_value(pid: int, name: bytes) -> bytes | None:
    """The value of ``name`` in the process's initial environment (None if absent)."""
    raw = _read(f"/proc/{pid}/environ", 1 << 22)
    prefix = name + b"="
    for entry in raw.split(b"\0") if raw else ():
        if entry.startswith(prefix):
            return entry[len(prefix) :]
    return None


def all_pids() -> list[int]:
    try:
        names = os.listdir("/proc")
    except OSError:
        return []
    return [int(name) for name in names if name.isdigit()]
