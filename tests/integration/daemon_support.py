"""Helpers for the daemon integration tests: a real `tapri daemon` subprocess, a real
notify socket, the real store file. Every helper polls with a deadline (no bare sleeps)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from tapri_daemon.interfaces import AttemptRecord, FireRecord, RunRecord, TaskRecord
from tapri_daemon.store.sqlite import SQLiteStore

T = TypeVar("T")
TAPRI = [sys.executable, "-m", "tapri_daemon"]


def wait_for(predicate: Callable[[], T], timeout: float = 10.0, what: str = "") -> T:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}")
        time.sleep(0.02)


def write_config(folder: Path, workflows: str, **daemon: Any) -> Path:
    settings = {
        "workflows": ["workflows.toml"],
        "state_dir": "state",
        "socket": "state/tapri.sock",
        "shutdown_grace": "2s",
        "log_format": "json",
        "timezone": "UTC",
        **daemon,
    }
    lines = ["[daemon]"] + [f"{k} = {json.dumps(v)}" for k, v in settings.items()]
    (folder / "tapri.toml").write_text("\n".join(lines) + "\n")
    (folder / "workflows.toml").write_text(textwrap.dedent(workflows))
    return folder / "tapri.toml"


class NotifySocket:
    """A real AF_UNIX datagram socket to pass as $NOTIFY_SOCKET."""

    def __init__(self) -> None:
        self._dir = tempfile.mkdtemp(prefix="tapri-notify-")
        self.path = os.path.join(self._dir, "notify")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.setblocking(False)
        self.messages: list[dict[str, str]] = []

    def poll(self) -> list[dict[str, str]]:
        while True:
            try:
                data = self.sock.recv(4096)
            except BlockingIOError:
                return self.messages
            fields = dict(line.split("=", 1) for line in data.decode().splitlines() if line)
            self.messages.append(fields)

    def seen(self, key: str, value: str | None = None) -> list[dict[str, str]]:
        return [m for m in self.poll() if key in m and (value is None or m[key] == value)]

    def close(self) -> None:
        self.sock.close()
        with contextlib.suppress(OSError):
            os.unlink(self.path)
            os.rmdir(self._dir)


@dataclass
class Daemon:
    """A `tapri daemon` subprocess; its stdout (JSON log lines) goes to a file."""

    folder: Path
    env: dict[str, str] = field(default_factory=dict)
    args: tuple[str, ...] = ()
    proc: subprocess.Popen[bytes] | None = None
    offset: int = 0
    """Where this process's lines start in the shared log file."""

    @property
    def config(self) -> Path:
        return self.folder / "tapri.toml"

    @property
    def socket(self) -> Path:
        return self.folder / "state" / "tapri.sock"

    @property
    def db(self) -> Path:
        return self.folder / "state" / "tapri.sqlite3"

    @property
    def log_path(self) -> Path:
        return self.folder / "daemon.log"

    def start(self, *, wait_ready: bool = True) -> Daemon:
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **self.env}
        self.offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with open(self.log_path, "ab") as out:
            self.proc = subprocess.Popen(
                [*TAPRI, "--config", str(self.config), "daemon", *self.args],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=self.folder,
            )
        if wait_ready:
            wait_for(lambda: self.logged("daemon.ready") or self._died(), 20, "daemon.ready")
            assert self.proc.poll() is None, self.log_path.read_text()
        return self

    def _died(self) -> bool:
        return self.proc is not None and self.proc.poll() is not None

    def events(self, name: str | None = None) -> list[dict[str, Any]]:
        found = []
        if not self.log_path.exists():
            return found
        with open(self.log_path, "rb") as log:
            log.seek(self.offset)
            text = log.read().decode(errors="replace")
        for line in text.splitlines():
            text = line[line.index("{") :] if "{" in line else ""
            try:
                event = json.loads(text)
            except ValueError:
                continue
            if name is None or event.get("event") == name:
                found.append(event)
        return found

    def logged(self, name: str) -> list[dict[str, Any]]:
        return self.events(name)

    def signal(self, signum: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(signum)

    def stop(self, timeout: float = 20.0) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def cli(self, *args: str, timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*TAPRI, "--config", str(self.config), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=self.folder,
        )


@contextlib.contextmanager
def running(folder: Path, **kwargs: Any) -> Iterator[Daemon]:
    """Start a daemon and always kill it (and nothing else) at the end."""
    daemon = Daemon(folder, **kwargs)
    try:
        yield daemon.start()
    finally:
        daemon.kill()


def read_store(db: Path, use: Callable[[SQLiteStore], Any]) -> Any:
    async def main() -> Any:
        async with SQLiteStore.open(db, readonly=True) as store:
            return await use(store)

    return asyncio.run(main())


def runs_of(db: Path, workflow: str | None = None) -> list[RunRecord]:
    async def use(store: SQLiteStore) -> list[RunRecord]:
        return await store.list_runs(workflow=workflow, limit=10_000)

    return sorted(read_store(db, use), key=lambda r: r.queued_at)


def attempts_of(db: Path, run_id: str, task: str | None = None) -> list[AttemptRecord]:
    async def use(store: SQLiteStore) -> list[AttemptRecord]:
        return await store.get_attempts(run_id, task)

    return sorted(read_store(db, use), key=lambda a: (a.task_id, a.attempt))


def tasks_of(db: Path, run_id: str) -> dict[str, TaskRecord]:
    async def use(store: SQLiteStore) -> list[TaskRecord]:
        return await store.get_tasks(run_id)

    return {t.task_id: t for t in read_store(db, use)}


def last_fire(db: Path, workflow: str) -> FireRecord | None:
    async def use(store: SQLiteStore) -> FireRecord | None:
        return await store.last_fire(workflow)

    return read_store(db, use)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    with contextlib.suppress(OSError):
        return stat.read_text().split(")")[-1].split()[0] != "Z"
    return False
