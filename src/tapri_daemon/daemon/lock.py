"""The state-dir lock: one daemon per state directory.

``fcntl.flock`` on ``paths.lock_path``, non-blocking, with the holder's pid written in, so a
second daemon fails at once (``StateDirLockedError``) naming the pid that holds it, and the
lock disappears with the process however it dies (the kernel drops flocks on exit).
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from types import TracebackType

from tapri_daemon.errors import StateDirLockedError


def _holder(fd: int) -> str:
    os.lseek(fd, 0, os.SEEK_SET)
    text = os.read(fd, 64).decode("ascii", "replace").strip()
    return f"pid {text}" if text else "pid unknown"


class StateDirLock:
    """Hold ``path`` exclusively while the context is open (or between acquire/release)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o640)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            raise StateDirLockedError(str(self.path), holder) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        os.ftruncate(fd, 0)
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)

    def __enter__(self) -> StateDirLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()
