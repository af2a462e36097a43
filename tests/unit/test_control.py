"""The control socket: JSON lines, size limit, peer credentials, errors, the client."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import stat
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest

from tapri_daemon.daemon.control import (
    MAX_REQUEST,
    ControlServer,
    Peer,
    call,
    peer_allowed,
    request,
)
from tapri_daemon.daemon.lock import StateDirLock
from tapri_daemon.daemon.systemd import Notifier
from tapri_daemon.errors import (
    ConfigError,
    ControlError,
    DaemonNotRunningError,
    NotFoundError,
    Problem,
    StateDirLockedError,
)


async def handler(req: dict[str, Any]) -> dict[str, Any]:
    verb = req["verb"]
    if verb == "echo":
        return {"echo": req.get("value")}
    if verb == "missing":
        raise NotFoundError("workflow", "dabbawalla", ["dabbawala"])
    if verb == "reload":
        problem = Problem(file="w.toml", line=3, col=1, key="workflow.x", message="bad cron")
        raise ConfigError([problem])
    raise RuntimeError("boom")


@asynccontextmanager
async def serving(folder: Path) -> AsyncIterator[Path]:
    path = folder / "run" / "tapri.sock"
    async with anyio.create_task_group() as tg:
        await tg.start(ControlServer(path, handler).serve)
        yield path
        tg.cancel_scope.cancel()
    assert not path.exists()


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """A folder every uid can traverse (tmp_path's parents are 0700)."""
    path = Path(tempfile.mkdtemp(prefix="tapri-ctl-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


async def test_request_and_answer(tmp_path: Path) -> None:
    async with serving(tmp_path) as server:
        assert stat.S_IMODE(server.stat().st_mode) == 0o660
        answer = await request(server, {"verb": "echo", "value": [1, "ü"]}, 5)
    assert answer == {"ok": True, "echo": [1, "ü"]}


async def test_errors_carry_message_and_exit_code(tmp_path: Path) -> None:
    async with serving(tmp_path) as server:
        answer = await request(server, {"verb": "missing"}, 5)
        with pytest.raises(ControlError) as info:
            await call(server, {"verb": "reload"}, 5)
        internal = await request(server, {"verb": "explode"}, 5)
    assert answer["ok"] is False and answer["exit_code"] == 1
    assert 'did you mean "dabbawala"' in answer["error"]
    assert info.value.exit_code == 78
    assert "w.toml:3:1: workflow.x: bad cron" in info.value.message
    assert internal["ok"] is False and "boom" in internal["error"]


async def test_several_requests_on_one_connection_and_bad_lines(tmp_path: Path) -> None:
    async with serving(tmp_path) as server, await anyio.connect_unix(server) as stream:
        await stream.send(b'{"verb": "echo", "value": 1}\nnot json\n[1]\n{"verb":"echo"}\n')
        data = b""
        while data.count(b"\n") < 4:
            data += await stream.receive()
    answers = [json.loads(line) for line in data.splitlines()]
    assert answers[0] == {"ok": True, "echo": 1}
    assert answers[1]["ok"] is False and "not a JSON line" in answers[1]["error"]
    assert answers[2]["ok"] is False and answers[2]["exit_code"] == 2
    assert answers[3] == {"ok": True, "echo": None}


async def test_request_over_one_mib_is_refused(tmp_path: Path) -> None:
    big = json.dumps({"verb": "echo", "value": "x" * MAX_REQUEST}).encode() + b"\n"
    async with serving(tmp_path) as server, await anyio.connect_unix(server) as stream:
        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                tg.start_soon(_send_ignoring_reset, stream, big)
                data = b""
                while b"\n" not in data:
                    data += await stream.receive()
    answer = json.loads(data.splitlines()[0])
    assert answer["ok"] is False and "over 1048576 bytes" in answer["error"]


async def _send_ignoring_reset(stream: Any, data: bytes) -> None:
    with contextlib.suppress(anyio.BrokenResourceError, OSError):
        await stream.send(data)  # the server may hang up after refusing


async def test_daemon_not_running(tmp_path: Path) -> None:
    with pytest.raises(DaemonNotRunningError) as info:
        await request(tmp_path / "nothing.sock", {"verb": "status"}, 5)
    assert info.value.exit_code == 3
    stale = tmp_path / "stale.sock"
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(stale))
    sock.close()  # a socket file nobody listens on
    with pytest.raises(DaemonNotRunningError):
        await request(stale, {"verb": "status"}, 5)


def test_peer_rules() -> None:
    assert peer_allowed(Peer(pid=1, uid=1000, gid=1000), owner_uid=1000, group_gid=50)
    assert peer_allowed(Peer(pid=1, uid=0, gid=0), owner_uid=1000, group_gid=50)
    assert peer_allowed(Peer(pid=1, uid=4242, gid=50), owner_uid=1000, group_gid=50)
    assert not peer_allowed(Peer(pid=1, uid=4242, gid=4242), owner_uid=1000, group_gid=50)


OTHER_UID_CLIENT = """
import os, socket, sys
os.setgroups([]); os.setgid(65534); os.setuid(65534)
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
answer = s.recv(4096)
print(answer.decode())
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to connect as another uid")
async def test_other_uid_is_refused_by_so_peercred(open_dir: Path) -> None:
    async with serving(open_dir) as server:
        server.parent.chmod(0o755)
        server.chmod(0o666)  # the file lets anyone connect: SO_PEERCRED must decide
        result = await anyio.run_process(
            [sys.executable, "-c", OTHER_UID_CLIENT, str(server)], check=False
        )
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["ok"] is False and answer["exit_code"] == 77
    assert "uid 65534" in answer["error"]


def test_sd_notify_reaches_an_abstract_socket() -> None:
    name = f"@tapri-test-{os.getpid()}"
    receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    receiver.bind(b"\0" + name[1:].encode())
    receiver.settimeout(5)
    try:
        notifier = Notifier({"NOTIFY_SOCKET": name, "WATCHDOG_USEC": "2000000"})
        assert notifier.watchdog_interval == 1.0
        assert notifier.ready("2 workflows")
        assert receiver.recv(1024) == b"READY=1\nSTATUS=2 workflows"
        assert notifier.reloading()
        lines = receiver.recv(1024).decode().splitlines()
        assert lines[0] == "RELOADING=1" and int(lines[1].split("=")[1]) > 0
    finally:
        receiver.close()


def test_sd_notify_is_inert_without_systemd() -> None:
    notifier = Notifier({"WATCHDOG_USEC": "1000", "WATCHDOG_PID": "1"})
    assert not notifier.enabled and not notifier.ready()
    assert notifier.watchdog_interval is None  # the watchdog is meant for another pid


def test_state_dir_lock_names_its_holder(tmp_path: Path) -> None:
    path = tmp_path / "state" / "tapri.lock"
    with StateDirLock(path):
        assert path.read_text().strip() == str(os.getpid())
        with pytest.raises(StateDirLockedError) as info:
            StateDirLock(path).acquire()
        assert f"pid {os.getpid()}" in info.value.message
    StateDirLock(path).acquire()  # released: free again
