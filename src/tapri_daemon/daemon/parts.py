"""The daemon's parts, opened in order on the caller's exit stack (closed in reverse).

store     SQLite in the state dir, migrated, then recovery (a dead daemon's leftovers)
executor  the Dispatcher, wrapped so no kill grace outlasts ``[daemon].shutdown_grace``
notifier  notify.Router (queue, folding, apprise), drained on exit
engine    engine.Engine over those, with the precise clock
"""

from __future__ import annotations

import os
from contextlib import AsyncExitStack
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Protocol

from tapri_daemon import logs
from tapri_daemon.daemon.reload import Snapshot
from tapri_daemon.engine.config import EngineConfig
from tapri_daemon.engine.engine import Engine
from tapri_daemon.executors import Dispatcher
from tapri_daemon.interfaces import (
    AttemptObserver,
    AttemptRequest,
    AttemptResult,
    Clock,
    Executor,
)
from tapri_daemon.notify import Router
from tapri_daemon.spec.load import LoadedSettings
from tapri_daemon.store.recovery import RecoveryReport, recover
from tapri_daemon.store.sqlite import SQLiteStore

log = logs.get_logger("tapri.daemon")


class DaemonIdentity(Protocol):
    @property
    def daemon_id(self) -> str: ...

    @property
    def clock(self) -> Clock: ...


class GraceCap:
    """An Executor that caps every attempt's kill grace (TERM -> KILL) at ``cap`` seconds.

    The daemon's ``shutdown_grace`` bounds how long a stop may take (systemd's
    ``TimeoutStopSec`` is sized above it), so no task's ``kill_grace`` may outlast it: at
    SIGTERM every task gets SIGTERM at once and whatever is left gets SIGKILL at the grace.
    """

    def __init__(self, inner: Executor, cap: float) -> None:
        self.inner = inner
        self.cap = cap

    async def execute(self, request: AttemptRequest, observer: AttemptObserver) -> AttemptResult:
        if request.kill_grace > self.cap:
            request = replace(request, kill_grace=self.cap)
        return await self.inner.execute(request, observer)


@dataclass(kw_only=True)
class Parts:
    store: SQLiteStore
    executor: GraceCap
    notifier: Router
    engine: Engine
    recovery: RecoveryReport
    started_at: datetime

    def use(self, snapshot: Snapshot) -> None:
        """Swap definitions in every part that holds them (runs in flight keep theirs)."""
        self.engine.use(snapshot.loaded)
        self.notifier.use(snapshot.loaded.definitions)


async def open_parts(
    stack: AsyncExitStack, settings: LoadedSettings, snapshot: Snapshot, me: DaemonIdentity
) -> Parts:
    paths = settings.paths
    daemon = settings.settings.daemon
    started_at = me.clock.now()
    store = await SQLiteStore.start(stack, paths.db_path)
    report = await recover(store, daemon_id=me.daemon_id, now=started_at)
    dispatcher = Dispatcher(python_path=daemon.python_path, clock=me.clock)
    stack.push_async_callback(dispatcher.aclose)
    credentials = _credentials_dir()
    router = Router(
        snapshot.loaded.definitions,
        clock=me.clock,
        credentials_dir=credentials,
        default_timezone=settings.default_timezone,
    )
    await router.start(stack)
    executor = GraceCap(dispatcher, daemon.shutdown_grace.total_seconds())
    engine = Engine(
        config=EngineConfig(
            log_dir=paths.log_dir,
            max_parallel_tasks=daemon.max_parallel_tasks,
            python_path=daemon.python_path,
            default_timezone=settings.default_timezone,
            daemon_id=me.daemon_id,
            credentials_dir=credentials,
        ),
        store=store,
        executor=executor,
        clock=me.clock,
        notifier=router,
        definitions=snapshot.loaded,
    )
    return Parts(
        store=store,
        executor=executor,
        notifier=router,
        engine=engine,
        recovery=report,
        started_at=started_at,
    )


def _credentials_dir() -> Path | None:
    value = os.environ.get("CREDENTIALS_DIRECTORY")
    return Path(value) if value else None
