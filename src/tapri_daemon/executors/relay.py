"""The daemon's end of a relay process (``relayd.py``): attempts' pipes handed over, their
bytes coming back over one socket.

A ``RelayLink`` starts ``python -I -S relayd.py FD`` with one end of an
``AF_UNIX``/``SOCK_SEQPACKET`` pair and reads the other end on an event-loop callback. While
an attempt runs on a relay the daemon holds no descriptor for it; the link's socket is the
only one, however many attempts the relay holds (up to ``capacity``).

``adopt()`` sends the two read ends (SCM_RIGHTS) and closes them here; packets ``D`` feed
the attempt's ``Sink`` exactly as ``streams.Pipes`` would. ``Relayed.finish()`` asks the
relay to drain and close both (``C``) and waits for its ``X`` answers.

If the relay dies (``relay.lost`` is logged), its attempts' pipes die with it: their next
write gets SIGPIPE, and every waiting ``finish()`` returns at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
from pathlib import Path

import anyio

from tapri_daemon import logs
from tapri_daemon.executors import relayd
from tapri_daemon.executors.streams import Sink

RELAYD = str(Path(relayd.__file__).resolve())
FINISH_PATIENCE = 10.0
"""How long ``finish()`` waits for the relay's answers (it forwards other attempts' floods
meanwhile, so this is far more than it needs)."""
_PACKET = relayd.HEADER + relayd.CHUNK
_BURST = 32
_EXIT_PATIENCE = 2.0
_STATUS_PATIENCE = 0.05
_IDS = 1 << (8 * relayd.ID.size)

log = logs.get_logger("tapri.executors")


class RelayLink:
    """One relay process and the daemon's end of its socket."""

    def __init__(self, capacity: int) -> None:
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self._popen = _start(child.fileno())
        except BaseException:
            parent.close()
            raise
        finally:
            child.close()
        self.capacity = capacity
        self.used = 0
        self.alive = True
        self._sock = parent
        self._sock.setblocking(False)
        self._sinks: dict[int, tuple[Sink, int]] = {}
        self._closed: dict[int, asyncio.Event] = {}
        self._next = 0
        self._error: str | None = None
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self._sock.fileno(), self._readable)
        log.info(logs.RELAY_STARTED, pid=self._popen.pid, capacity=capacity)

    @property
    def pid(self) -> int:
        return self._popen.pid

    async def adopt(self, sink: Sink, fds: tuple[int, int]) -> Relayed:
        """Hand both read ends over and close them here. If this raises (OSError: the relay
        has gone; or a cancellation) the descriptors are still open and the caller's."""
        numbers = (self._next, self._next + 1)
        self._next = (self._next + 2) % _IDS  # unique among the streams alive, not forever
        for stream, number in enumerate(numbers):
            self._sinks[number] = (sink, stream)
        try:
            await self._send(relayd.message(b"A", numbers), fds)
        except BaseException:
            for number in numbers:
                self._sinks.pop(number, None)
            raise
        for fd in fds:
            os.close(fd)
        return Relayed(self, numbers, sink)

    async def release(self, numbers: tuple[int, ...]) -> None:
        """Ask for the last bytes and the close of ``numbers``; wait for the answers."""
        if not self.alive:
            return
        waits = [self._closed.setdefault(number, asyncio.Event()) for number in numbers]
        with contextlib.suppress(OSError):
            await self._send(relayd.message(b"C", numbers))
        with anyio.move_on_after(FINISH_PATIENCE):
            for event in waits:
                await event.wait()
        for number in numbers:
            self._sinks.pop(number, None)
            self._closed.pop(number, None)

    async def _send(self, message: bytes, fds: tuple[int, ...] = ()) -> None:
        while True:
            if not self.alive:
                raise BrokenPipeError("the relay has gone")
            try:
                socket.send_fds(self._sock, [message], list(fds))
                return
            except BlockingIOError:
                await anyio.wait_writable(self._sock)

    def _readable(self) -> None:
        touched: set[Sink] = set()
        for _ in range(_BURST):
            try:
                packet = self._sock.recv(_PACKET)
            except BlockingIOError:
                break
            except OSError:
                packet = b""
            if not packet:
                self._lost()
                break
            self._dispatch(packet, touched)
        for sink in touched:
            sink.flush()

    def _dispatch(self, packet: bytes, touched: set[Sink]) -> None:
        kind, (number,) = packet[:1], relayd.ID.unpack_from(packet, 1)
        target = self._sinks.get(number)
        if kind == b"D" and target is not None:
            target[0].feed(target[1], packet[relayd.HEADER :])
            touched.add(target[0])
        elif kind == b"X" and number in self._closed:
            self._closed[number].set()
        elif kind == b"F":
            self._error = packet[relayd.HEADER :].decode("utf-8", "replace")

    def _lost(self) -> None:
        if not self.alive:
            return
        error = self._error or f"the relay exited ({_status(self._popen)})"
        log.error(logs.RELAY_LOST, pid=self._popen.pid, streams=len(self._sinks), error=error)
        self._shut()
        for event in self._closed.values():
            event.set()

    def _shut(self) -> None:
        self.alive = False
        self._loop.remove_reader(self._sock.fileno())
        self._sock.close()
        self._sinks.clear()

    def close(self) -> None:
        """Close the socket (the relay exits on end-of-file) and reap the relay."""
        if self.alive:
            self._shut()
        try:
            self._popen.wait(_EXIT_PATIENCE)
        except subprocess.TimeoutExpired:
            self._popen.kill()
            self._popen.wait()


class Relayed:
    """An attempt whose pipes a relay reads: no descriptor in the daemon while it runs."""

    def __init__(self, link: RelayLink, numbers: tuple[int, int], sink: Sink) -> None:
        self._link = link
        self._numbers = numbers
        self._sink = sink

    async def finish(self) -> None:
        await self._link.release(self._numbers)
        self._sink.close()


def _status(popen: subprocess.Popen[bytes]) -> str:
    """How the relay ended, if it has (it is reaped later, by ``close``)."""
    try:
        code = popen.wait(_STATUS_PATIENCE)
    except subprocess.TimeoutExpired:
        return "still running"
    return f"killed by signal {-code}" if code < 0 else f"exit code {code}"


def _start(fd: int) -> subprocess.Popen[bytes]:
    """The relay process, in the daemon's process group (it ignores SIGINT and SIGTERM)."""
    return subprocess.Popen(
        [sys.executable, "-I", "-S", RELAYD, str(fd)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        pass_fds=(fd,),
        close_fds=True,
        env={},
    )
