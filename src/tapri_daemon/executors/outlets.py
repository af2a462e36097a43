"""Who reads each process attempt's stdout and stderr, within the open-file limit.

An attempt's two pipes are read by the daemon itself (``streams.Pipes``: two descriptors
held while it runs) as long as at most ``direct`` attempts do so; beyond that, by a relay
process (``relay.py``: no descriptor held here, one socket per relay), each relay taking up
to ``per_relay`` attempts, with at most ``max_relays`` relays. Only when all of those are
taken does an attempt wait, before it is spawned, for one to free.

Under ``ulimit -n 1024`` that is 448 attempts read directly and 496 per relay; the
systemd unit's ``LimitNOFILE=65536`` gives 30,688 direct ones, so relays start only
where the limit is low. A relay, once started, stays until the Dispatcher closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
from collections.abc import AsyncIterator

from tapri_daemon import logs
from tapri_daemon.executors.relay import RelayLink
from tapri_daemon.executors.streams import Pipes, Sink, Streams

MAX_RELAYS = 8
RELAY_RESERVE = 32
"""Descriptors a relay keeps for itself (stdio, its selector, its socket, a message's fds)."""

log = logs.get_logger("tapri.executors")


def per_relay(open_files: int) -> int:
    """Attempts one relay can hold (it inherits the daemon's open-file limit)."""
    return max(1, (open_files - RELAY_RESERVE) // 2)


class Outlet:
    """One attempt's reader, taken before the spawn: the daemon (``link`` None) or a relay."""

    def __init__(self, link: RelayLink | None) -> None:
        self.link = link

    async def attach(self, sink: Sink, fds: tuple[int, int]) -> Streams:
        """Start reading the two read ends into ``sink``; they belong to the result. Read
        directly if the relay has gone meanwhile; closed if cancelled."""
        if self.link is None or not self.link.alive:
            return Pipes(sink, fds)
        try:
            return await self.link.adopt(sink, fds)
        except OSError:
            return Pipes(sink, fds)
        except BaseException:
            for fd in fds:
                os.close(fd)
            raise


class Outlets:
    """The budget of direct readers and the relays beyond it."""

    def __init__(self, *, direct: int, per_relay: int, max_relays: int = MAX_RELAYS) -> None:
        self.direct = direct
        self.per_relay = per_relay
        self.max_relays = max_relays
        self.direct_used = 0
        self.links: list[RelayLink] = []
        self._freed: asyncio.Event | None = None

    @contextlib.asynccontextmanager
    async def outlet(self) -> AsyncIterator[Outlet]:
        """An outlet for one attempt, waiting while every one is taken."""
        link = await self._take()
        try:
            yield Outlet(link)
        finally:
            self._give_back(link)

    @property
    def busy(self) -> int:
        return self.direct_used + sum(link.used for link in self.links)

    async def _take(self) -> RelayLink | None:
        while True:
            if self.direct_used < self.direct:
                self.direct_used += 1
                return None
            link = self._relay_with_room()
            if link is not None:
                link.used += 1
                return link
            if self.busy == 0:
                raise OSError(errno.EMFILE, "no descriptor left to read the output")
            self._freed = self._freed or asyncio.Event()
            await self._freed.wait()

    def _relay_with_room(self) -> RelayLink | None:
        self._prune()
        for link in self.links:
            if link.alive and link.used < link.capacity:
                return link
        if sum(link.alive for link in self.links) >= self.max_relays:
            return None
        try:
            link = RelayLink(self.per_relay)
        except OSError as exc:
            log.warning(logs.RELAY_LOST, pid=None, streams=0, error=str(exc))
            return None
        self.links.append(link)
        return link

    def _give_back(self, link: RelayLink | None) -> None:
        if link is None:
            self.direct_used -= 1
        else:
            link.used -= 1
            self._prune()
        if self._freed is not None:
            self._freed.set()
            self._freed = None

    def _prune(self) -> None:
        """Reap the relays that died and hold no attempt any more."""
        for link in [link for link in self.links if not link.alive and link.used == 0]:
            self.links.remove(link)
            link.close()

    def close(self) -> None:
        """Stop every relay (called once no attempt runs)."""
        for link in self.links:
            link.close()
        self.links.clear()
