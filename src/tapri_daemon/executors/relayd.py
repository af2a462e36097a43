"""The output relay: it holds attempts' stdout and stderr pipes when the daemon's own
descriptor budget is spent, and forwards what they carry over one socket.

Run by path with ``python -I -S relayd.py SOCKET_FD`` (isolated, builtin modules only, like
launcher.py). ``SOCKET_FD`` is one end of an ``AF_UNIX``/``SOCK_SEQPACKET`` pair; the daemon
holds the other (``relay.py``). Every message is one packet, a kind byte then
little-endian u32 stream ids:

    daemon -> relay
      A ID ID ...      adopt these read ends (attached with SCM_RIGHTS, in the same order)
      C ID ID ...      forward what these pipes hold now (at most DRAIN_LIMIT bytes
                       each, without waiting), close them, answer X ID for each
    relay -> daemon
      D ID BYTES       bytes read from a stream (at most CHUNK per packet)
      E ID             the stream reached end-of-file; the relay closed it
      X ID             closed on request (C), after its last D
      F 0 TEXT         the relay fails (an unexpected error, as text) and exits

The relay blocks while the socket is full, so it stops reading the pipes and a task that
floods its output waits on its own pipe, exactly as with the daemon reading directly.
SIGINT and SIGTERM are ignored (a terminal's Ctrl-C or a unit's stop is for the daemon);
the relay exits when the daemon's end of the socket closes. Its stdout and stderr are
/dev/null (the daemon's own output is JSON lines only): an error reaches the daemon as F.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import socket
import struct
import sys

CHUNK = 1 << 16
DRAIN_LIMIT = 1 << 20
MAX_FDS = 64
SEND_BUFFER = 1 << 20
ID = struct.Struct("<I")
HEADER = 1 + ID.size
"""A packet's kind byte and stream id; the daemon's side (relay.py) uses these too."""


def message(kind: bytes, numbers: tuple[int, ...]) -> bytes:
    return kind + b"".join(ID.pack(number) for number in numbers)


def ids_of(body: bytes) -> list[int]:
    return [number for (number,) in ID.iter_unpack(body)]


class Relay:
    """The streams it holds, by id, and the socket to the daemon."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.selector = selectors.DefaultSelector()
        self.selector.register(sock, selectors.EVENT_READ, None)
        self.streams: dict[int, int] = {}

    def serve(self) -> None:
        while True:
            for key, _ in self.selector.select():
                if key.data is None:
                    if not self.command():
                        return
                else:
                    self.forward(key.data, key.fd)

    def command(self) -> bool:
        """One packet from the daemon; False once the daemon has gone."""
        try:
            packet, fds, _, _ = socket.recv_fds(self.sock, 1 << 16, MAX_FDS)
        except ConnectionError:
            return False
        if not packet:
            return False
        if packet[:1] == b"A":
            self.adopt(ids_of(packet[1:]), fds)
        elif packet[:1] == b"C":
            for number in ids_of(packet[1:]):
                self.release(number)
        return True

    def adopt(self, numbers: list[int], fds: list[int]) -> None:
        for number, fd in zip(numbers, fds, strict=False):
            os.set_blocking(fd, False)
            self.streams[number] = fd
            self.selector.register(fd, selectors.EVENT_READ, number)
        for fd in fds[len(numbers) :]:
            os.close(fd)

    def forward(self, number: int, fd: int) -> None:
        if self.streams.get(number) != fd:
            return  # released earlier in this same batch of events
        try:
            data = os.read(fd, CHUNK)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if data:
            self.send(b"D", number, data)
        else:
            self.drop(number)
            self.send(b"E", number)

    def release(self, number: int) -> None:
        fd = self.streams.get(number)
        if fd is not None:
            self.drain(number, fd)
            self.drop(number)
        self.send(b"X", number)

    def drain(self, number: int, fd: int) -> None:
        budget = DRAIN_LIMIT
        while budget > 0:
            try:
                data = os.read(fd, min(CHUNK, budget))
            except OSError:
                return
            if not data:
                return
            budget -= len(data)
            self.send(b"D", number, data)

    def drop(self, number: int) -> None:
        fd = self.streams.pop(number)
        self.selector.unregister(fd)
        os.close(fd)

    def send(self, kind: bytes, number: int, data: bytes = b"") -> None:
        self.sock.sendmsg([message(kind, (number,)), data])


def main(argv: list[str]) -> int:
    for name in ("SIGINT", "SIGTERM"):
        signal.signal(getattr(signal, name), signal.SIG_IGN)
    sock = socket.socket(fileno=int(argv[1]))
    sock.setblocking(True)
    with contextlib.suppress(OSError):  # room for a few packets (capped by wmem_max)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)
    try:
        Relay(sock).serve()
    except ConnectionError:  # the daemon has gone
        return 0
    except Exception as exc:
        text = f"{type(exc).__name__}: {exc}".encode("utf-8", "replace")
        with contextlib.suppress(OSError):
            sock.sendmsg([message(b"F", (0,)), text[:4096]])
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
