"""The control socket: a Unix socket speaking JSON lines, and its client.

Protocol: each request is one JSON object on one line, ``{"verb": "...", ...}``; each answer
is one line, ``{"ok": true, ...}`` or ``{"ok": false, "error": "...", "exit_code": N}``
(plus ``"problems": [...]`` for a rejected reload). A connection may carry several requests
in turn. Requests over 1 MiB are refused and the connection closed.

Access: the socket is created with mode 0660, and the peer's credentials (``SO_PEERCRED``)
are checked on every connection: the daemon's own uid, root, or a member of the socket's
group (primary or supplementary). Everyone else gets an error line and is disconnected.
"""

from __future__ import annotations

import contextlib
import grp
import json
import os
import pwd
import socket
import struct
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
from anyio.abc import SocketAttribute, SocketStream, TaskStatus
from anyio.streams.buffered import BufferedByteReceiveStream

from tapri_daemon.errors import ConfigError, ControlError, DaemonNotRunningError, TapriError
from tapri_daemon.logs import CONTROL_REQUEST, get_logger

MAX_REQUEST = 1 << 20
MAX_RESPONSE = 64 << 20
SOCKET_MODE = 0o660

Request = dict[str, Any]
Response = dict[str, Any]
Handler = Callable[[Request], Awaitable[Response]]

log = get_logger("tapri.control")


@dataclass(frozen=True, kw_only=True)
class Peer:
    pid: int
    uid: int
    gid: int


def peer_of(sock: socket.socket) -> Peer:
    """The connected process's pid/uid/gid (SO_PEERCRED)."""
    raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    pid, uid, gid = struct.unpack("3i", raw)
    return Peer(pid=pid, uid=uid, gid=gid)


def _user_groups(uid: int) -> set[int]:
    try:
        user = pwd.getpwuid(uid)
    except KeyError:
        return set()
    return {user.pw_gid, *(g.gr_gid for g in grp.getgrall() if user.pw_name in g.gr_mem)}


def peer_allowed(peer: Peer, *, owner_uid: int, group_gid: int) -> bool:
    """The daemon's own uid, root, or a member of the socket's group."""
    if peer.uid in (owner_uid, 0) or peer.gid == group_gid:
        return True
    return group_gid in _user_groups(peer.uid)


def error_response(exc: BaseException) -> Response:
    """The error line for an exception (TapriError keeps its message and exit code)."""
    if isinstance(exc, TapriError):
        response: Response = {"ok": False, "error": exc.message, "exit_code": exc.exit_code}
        if isinstance(exc, ConfigError):
            response["problems"] = [str(p) for p in exc.problems]
        return response
    return {"ok": False, "error": f"internal error: {exc!r}", "exit_code": 1}


def _encode(response: Response) -> bytes:
    return json.dumps(response, ensure_ascii=False, default=str).encode() + b"\n"


class ControlServer:
    """Serve ``handler`` on a Unix socket until cancelled; the socket file is removed after."""

    def __init__(self, path: Path, handler: Handler, *, max_request: int = MAX_REQUEST) -> None:
        self.path = path
        self.handler = handler
        self.max_request = max_request

    async def serve(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        listener = await anyio.create_unix_listener(self.path, mode=SOCKET_MODE)
        stat = self.path.stat()
        self._owner, self._group = os.geteuid(), stat.st_gid
        try:
            async with listener:
                task_status.started()
                await listener.serve(self._connection)
        finally:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()

    async def _connection(self, stream: SocketStream) -> None:
        async with stream:
            peer = peer_of(stream.extra(SocketAttribute.raw_socket))
            if not peer_allowed(peer, owner_uid=self._owner, group_gid=self._group):
                await stream.send(_encode(self._refusal(peer)))
                return
            reader = BufferedByteReceiveStream(stream)
            with contextlib.suppress(anyio.EndOfStream, anyio.IncompleteRead, OSError):
                while True:
                    response = await self._one(reader, peer)
                    await stream.send(_encode(response))
                    if response.get("close"):
                        return

    def _refusal(self, peer: Peer) -> Response:
        reason = f"uid {peer.uid} may not use {self.path} (not the owner, root or its group)"
        return {"ok": False, "error": reason, "exit_code": 77}

    async def _one(self, reader: BufferedByteReceiveStream, peer: Peer) -> Response:
        try:
            line = await reader.receive_until(b"\n", self.max_request)
        except anyio.DelimiterNotFound:
            line = None
        if line is None or len(line) > self.max_request:
            limit = self.max_request
            return {"ok": False, "error": f"request over {limit} bytes", "exit_code": 2, "close": 1}
        try:
            request = json.loads(line)
        except ValueError as exc:
            return {"ok": False, "error": f"not a JSON line: {exc}", "exit_code": 2}
        if not isinstance(request, dict) or not isinstance(request.get("verb"), str):
            return {"ok": False, "error": 'a request is {"verb": "...", ...}', "exit_code": 2}
        return await self._dispatch(request, peer)

    async def _dispatch(self, request: Request, peer: Peer) -> Response:
        log.info(CONTROL_REQUEST, verb=request["verb"], peer_uid=peer.uid, peer_pid=peer.pid)
        try:
            response = await self.handler(request)
        except Exception as exc:
            if not isinstance(exc, TapriError):
                log.exception(CONTROL_REQUEST, verb=request["verb"], error=repr(exc))
            return error_response(exc)
        return {"ok": True, **response}


async def request(
    socket_path: Path | str,
    payload: Request,
    timeout: float | None = None,  # noqa: ASYNC109 (the CLI's one knob)
) -> Response:
    """Send one request and return the daemon's answer (``ok`` true or false).

    Raises DaemonNotRunningError (exit 3) when nothing listens on the socket, and
    ControlError on a permission problem, a timeout or a broken answer.
    """
    verb = str(payload.get("verb", "?"))
    with anyio.fail_after(timeout):
        stream = await _connect(Path(socket_path), verb)
        async with stream:
            await stream.send(json.dumps(payload, default=str).encode() + b"\n")
            reader = BufferedByteReceiveStream(stream)
            try:
                line = await reader.receive_until(b"\n", MAX_RESPONSE)
            except (anyio.EndOfStream, anyio.IncompleteRead):
                raise ControlError(verb, "the daemon closed the connection") from None
    answer = json.loads(line)
    if not isinstance(answer, dict):
        raise ControlError(verb, f"unexpected answer {line[:200]!r}")
    return answer


async def call(
    socket_path: Path | str,
    payload: Request,
    timeout: float | None = None,  # noqa: ASYNC109
) -> Response:
    """Like ``request``, but a refused request raises ControlError with the daemon's exit code."""
    answer = await request(socket_path, payload, timeout)
    if not answer.get("ok"):
        verb = str(payload.get("verb", "?"))
        error = str(answer.get("error", "refused"))
        raise ControlError(verb, error, exit_code=int(answer.get("exit_code", 1)))
    return answer


async def _connect(path: Path, verb: str) -> SocketStream:
    try:
        return await anyio.connect_unix(path)
    except (FileNotFoundError, ConnectionRefusedError):
        raise DaemonNotRunningError(str(path)) from None
    except PermissionError:
        raise ControlError(
            verb, f"permission denied on {path}: join the socket's group or use sudo", 77
        ) from None
