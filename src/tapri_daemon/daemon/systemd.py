"""systemd integration with the standard library only: sd_notify and the watchdog period.

The notify protocol is one datagram of ``KEY=value`` lines sent to the AF_UNIX socket named
by ``$NOTIFY_SOCKET`` (a leading ``@`` means the abstract namespace). Without that variable
every call is a no-op, so the daemon runs the same way outside systemd.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Mapping


def _address(name: str) -> str | bytes:
    if name.startswith("@"):
        return b"\0" + name[1:].encode()
    return name


class Notifier:
    """Send sd_notify messages; silently inert when ``$NOTIFY_SOCKET`` is unset."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        self.socket_name = env.get("NOTIFY_SOCKET") or None
        self.watchdog_usec = _watchdog_usec(env)

    @property
    def enabled(self) -> bool:
        return self.socket_name is not None

    def send(self, **fields: str | int) -> bool:
        """Send ``KEY=value`` lines (keys upper-cased); True when a datagram went out."""
        if self.socket_name is None:
            return False
        text = "\n".join(f"{key.upper()}={value}" for key, value in fields.items())
        return self.send_raw(text)

    def send_raw(self, text: str) -> bool:
        if self.socket_name is None:
            return False
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            try:
                sock.sendto(text.encode(), _address(self.socket_name))
            except OSError:
                return False
        return True

    def ready(self, status: str | None = None) -> bool:
        return self.send(ready=1, **({"status": status} if status else {}))

    def status(self, line: str) -> bool:
        return self.send(status=line.replace("\n", " "))

    def reloading(self) -> bool:
        return self.send(reloading=1, monotonic_usec=monotonic_usec())

    def stopping(self) -> bool:
        return self.send(stopping=1)

    def watchdog(self) -> bool:
        return self.send(watchdog=1)

    @property
    def watchdog_interval(self) -> float | None:
        """Seconds between pings: half of ``$WATCHDOG_USEC``, or None without a watchdog."""
        return self.watchdog_usec / 2e6 if self.watchdog_usec else None


def monotonic_usec() -> int:
    """CLOCK_MONOTONIC in µs, as systemd expects with ``RELOADING=1``."""
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000


def _watchdog_usec(env: Mapping[str, str]) -> int | None:
    value = env.get("WATCHDOG_USEC")
    pid = env.get("WATCHDOG_PID")
    if not value or (pid and pid != str(os.getpid())):
        return None
    try:
        usec = int(value)
    except ValueError:
        return None
    return usec if usec > 0 else None
