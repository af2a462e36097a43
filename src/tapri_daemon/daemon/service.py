"""`tapri daemon`: the composition root of the long-running service.

Start order: load the settings -> take the state-dir lock (held by another daemon: exit 1
at once) -> load and validate the definitions (invalid: exit 78) -> open and migrate the
store -> recovery (a dead daemon's attempts become lost, its leftovers are killed) ->
resume unfinished runs -> catch-up -> APScheduler starts firing -> control socket ->
``READY=1``.

Signals are read from ``anyio.open_signal_receiver`` (never a polled flag): SIGHUP reloads;
SIGTERM/SIGINT stop: ``STOPPING=1``, no more fires, every running run is cancelled (its
tasks get SIGTERM at once, SIGKILL after the grace, attempts recorded ``cancelled``),
then the store is closed cleanly and the process exits 0.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import time
import uuid
from collections.abc import Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
from anyio.abc import TaskGroup

from tapri_daemon import __version__, logs
from tapri_daemon.daemon import loops, precise
from tapri_daemon.daemon.control import ControlServer
from tapri_daemon.daemon.fires import FireHandler
from tapri_daemon.daemon.jumps import Jump
from tapri_daemon.daemon.lock import StateDirLock
from tapri_daemon.daemon.parts import Parts, open_parts
from tapri_daemon.daemon.reload import FileWatch, Snapshot, diff
from tapri_daemon.daemon.runs import RunPool
from tapri_daemon.daemon.scheduler import FireScheduler, JobSpec
from tapri_daemon.daemon.systemd import Notifier as SystemdNotifier
from tapri_daemon.daemon.verbs import Answer, Verbs
from tapri_daemon.engine import tune_gc
from tapri_daemon.errors import EX_CONFIG, ConfigError, TapriError
from tapri_daemon.interfaces import DaemonRecord
from tapri_daemon.spec.load import LoadedSettings, load_settings

if TYPE_CHECKING:
    from tapri_daemon.metrics import Metrics

log = logs.get_logger("tapri.daemon")

SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


@dataclass(frozen=True, kw_only=True)
class Options:
    config: Path | None = None
    state_dir: Path | None = None
    workflows: tuple[Path, ...] = ()
    watch: bool = False
    environ: Mapping[str, str] | None = None


def run(options: Options) -> int:
    """Run the daemon in the foreground until SIGTERM/SIGINT; return the exit code."""
    return anyio.run(main, options, backend="asyncio")


async def main(options: Options) -> int:
    try:
        settings = load_settings(
            options.config,
            state_dir=options.state_dir,
            workflows=options.workflows or None,
            environ=options.environ,
        )
    except ConfigError as exc:
        print(f"tapri: {exc.message}", file=sys.stderr)
        return EX_CONFIG
    daemon_settings = settings.settings.daemon
    try:
        metrics = _metrics(settings)
    except TapriError as exc:
        print(f"tapri: {exc.message}", file=sys.stderr)
        return exc.exit_code
    observers = [metrics.observe] if metrics is not None else []
    logs.configure(
        daemon_settings.log_format, daemon_settings.log_level, daemon_settings.log_file, observers
    )
    try:
        with StateDirLock(settings.paths.lock_path):  # first: a second daemon leaves at once
            snapshot = await _definitions(settings)
            if snapshot is None:
                return EX_CONFIG
            tune_gc()
            await Daemon(settings, snapshot, options, metrics).run()
    except TapriError as exc:
        log.error(logs.DAEMON_STOPPED, error=exc.message, exit_code=exc.exit_code)
        print(f"tapri: {exc.message}", file=sys.stderr)
        return exc.exit_code
    return 0


async def _definitions(settings: LoadedSettings) -> Snapshot | None:
    try:
        return await anyio.to_thread.run_sync(Snapshot.load, settings)
    except ConfigError as exc:
        log.error(logs.CONFIG_REJECTED, problems=[str(p) for p in exc.problems])
        print(f"tapri: {exc.message}", file=sys.stderr)
        return None


def _metrics(settings: LoadedSettings) -> Metrics | None:
    """A Metrics when ``[metrics].listen`` is set (MetricsError without prometheus-client)."""
    if not settings.settings.metrics.listen:
        return None
    from tapri_daemon.metrics import Metrics

    return Metrics()


class Daemon:
    """One daemon process: owns the parts, the task group and the signal loop."""

    def __init__(
        self,
        settings: LoadedSettings,
        snapshot: Snapshot,
        options: Options,
        metrics: Metrics | None = None,
    ) -> None:
        self.metrics = metrics
        self.settings = settings
        self.snapshot = snapshot
        self.options = options
        self.daemon_id = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.systemd = SystemdNotifier(options.environ)
        self.clock = precise.PreciseClock()
        self.started_monotonic = time.monotonic()
        self.last_reload: Answer = {"ok": True, "at": None, "diff": None}
        self._reload_lock = anyio.Lock()
        self.watch = options.watch or settings.settings.daemon.watch
        self.parts: Parts
        self.pool: RunPool
        self.fires: FireHandler
        self.scheduler: FireScheduler

    # -- the life of the process ------------------------------------------------------------
    async def run(self) -> None:
        async with AsyncExitStack() as stack:
            signals = stack.enter_context(anyio.open_signal_receiver(*SIGNALS))
            self.parts = await open_parts(stack, self.settings, self.snapshot, self)
            await self._serve_metrics(stack)
            await self._record_daemon(stopped=False)
            stack.push_async_callback(self._record_daemon, True)
            async with anyio.create_task_group() as tg:
                await self._start(tg)
                async for signum in signals:
                    if signum != signal.SIGHUP:
                        break
                    tg.start_soon(self._reload_logged, "SIGHUP")
                await self._shutdown(tg)
                tg.cancel_scope.cancel()
        log.info(logs.DAEMON_STOPPED, daemon_id=self.daemon_id)

    async def _serve_metrics(self, stack: AsyncExitStack) -> None:
        listen = self.settings.settings.metrics.listen
        if self.metrics is not None and listen:
            host, port = await self.metrics.start(stack, listen)
            log.info(logs.DAEMON_STARTED, metrics=f"http://{host}:{port}/metrics")

    async def _start(self, tg: TaskGroup) -> None:
        parts = self.parts
        log.info(logs.DAEMON_STARTED, daemon_id=self.daemon_id, version=__version__)
        self.pool = RunPool(engine=parts.engine, store=parts.store, clock=self.clock)
        self.pool.bind(tg)
        self.pool.use(self.snapshot.workflows, self.snapshot.scheduled())
        await self.pool.load_paused()
        self.fires = FireHandler(
            pool=self.pool,
            store=parts.store,
            clock=precise.PreciseClock(realtime=False),  # exact, without SCHED_FIFO
            notifier=parts.notifier,
            before_precise=self.check_clock,
        )
        await self.fires.load()
        tg.start_soon(self.fires.consume)
        await self.pool.resume(await self._unfinished())
        await self.fires.catch_up()
        self.scheduler = FireScheduler(self.fires.hand_off)
        self.scheduler.set_jobs(self._job_specs())
        self.scheduler.start()
        await tg.start(ControlServer(self.settings.paths.socket, self._verbs(tg)).serve)
        self._start_loops(tg)
        self.check_clock()
        self.systemd.ready(self.status_line())
        log.info(logs.DAEMON_READY, workflows=len(self.snapshot.workflows), pid=os.getpid())

    def _start_loops(self, tg: TaskGroup) -> None:
        tg.start_soon(loops.watchdog, self.systemd, self._tick)
        tg.start_soon(loops.clock_jumps, self._on_jump)
        if self.watch:
            watch = FileWatch(self.snapshot.watched_files())
            self._file_watch = watch
            tg.start_soon(loops.watch_files, watch, self._on_files_changed)

    async def _unfinished(self) -> list[Any]:
        return list(await self.parts.store.unfinished_runs())

    def _verbs(self, tg: TaskGroup) -> Verbs:
        return Verbs(
            pool=self.pool,
            engine=self.parts.engine,
            store=self.parts.store,
            tg=tg,
            reload=self.reload,
            status=self.status,
        )

    def _job_specs(self) -> dict[str, JobSpec]:
        return {
            name: JobSpec(
                workflow=name,
                schedule=schedule,
                advance=self.snapshot.advance(name),
                floor=lambda name=name: self.fires.last_fire(name),  # type: ignore[misc]
            )
            for name, schedule in self.snapshot.scheduled().items()
        }

    # -- shutdown ---------------------------------------------------------------------------
    async def _shutdown(self, tg: TaskGroup) -> None:
        grace = self.settings.settings.daemon.shutdown_grace.total_seconds()
        self.systemd.stopping()
        running = self.parts.engine.running()
        log.info(logs.DAEMON_STOPPING, running=len(running), grace_s=grace)
        self.scheduler.shutdown()
        self.fires.stop()
        self.pool.stop()
        for run_id in running:
            self.parts.engine.cancel(run_id, "the daemon is stopping")
        with anyio.move_on_after(grace + 5):
            await self.pool.idle()

    async def _record_daemon(self, stopped: bool) -> None:
        now = self.clock.now()
        await self.parts.store.record_daemon(
            DaemonRecord(
                daemon_id=self.daemon_id,
                pid=os.getpid(),
                host=socket.gethostname(),
                started_at=self.parts.started_at,
                stopped_at=now if stopped else None,
                config_digest=self.snapshot.digest,
            )
        )

    # -- reload -----------------------------------------------------------------------------
    async def reload(self) -> Answer:
        """Parse and validate everything, then swap; ConfigError keeps the old definitions."""
        async with self._reload_lock:
            self.systemd.reloading()
            try:
                return await self._reload()
            finally:
                self.systemd.ready(self.status_line())

    async def _reload(self) -> Answer:
        now = self.clock.now().isoformat()
        try:
            snapshot = await anyio.to_thread.run_sync(self._load_again)
        except ConfigError as exc:
            problems = [str(p) for p in exc.problems]
            log.error(logs.CONFIG_REJECTED, problems=problems, count=len(problems))
            self.last_reload = {"ok": False, "at": now, "problems": problems}
            if self.metrics is not None:
                self.metrics.config_reloaded(False)
            raise
        changes = diff(self.snapshot.workflows, snapshot.workflows)
        self._swap(snapshot)
        log.info(logs.CONFIG_RELOADED, digest=snapshot.digest, **changes.as_dict())
        self.last_reload = {"ok": True, "at": now, "diff": changes.as_dict()}
        if self.metrics is not None:
            self.metrics.config_reloaded(True)
        return {"digest": snapshot.digest, "diff": changes.as_dict()}

    def _load_again(self) -> Snapshot:
        """Read the settings file again too (for its workflow list); paths and daemon
        settings that only a restart can change keep their current values."""
        options = self.options
        fresh = load_settings(
            options.config,
            state_dir=options.state_dir,
            workflows=options.workflows or None,
            environ=options.environ,
        )
        if fresh.paths != self.settings.paths or fresh.settings != self.settings.settings:
            log.warning(logs.CONFIG_LOADED, restart_needed="daemon settings or paths changed")
        current = replace(self.settings, workflow_files=fresh.workflow_files)
        return Snapshot.load(current)

    def _swap(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot
        self.parts.use(snapshot)
        self.pool.use(snapshot.workflows, snapshot.scheduled())
        self.scheduler.set_jobs(self._job_specs())
        if self.watch:
            self._file_watch.follow(snapshot.watched_files())

    async def _reload_logged(self, why: str) -> None:
        try:
            await self.reload()
        except TapriError:
            return  # logged as config.rejected; the old definitions keep running

    async def _on_files_changed(self) -> None:
        await self._reload_logged("file changed")

    # -- clocks -----------------------------------------------------------------------------
    async def _on_jump(self, jump: Jump) -> None:
        self.scheduler.recompute()
        if jump.offset > 0:
            await self.fires.catch_up()

    def check_clock(self, workflow: str | None = None) -> None:
        """Log clock.unsynchronised when the kernel says so or its error is too large."""
        health = precise.clock_health()
        bound = self.settings.settings.daemon.clock_max_error
        bound_us = int(bound.total_seconds() * 1e6)
        if health is None:
            log.warning(logs.CLOCK_UNSYNCHRONISED, workflow=workflow, reason="adjtimex failed")
        elif not health.acceptable(bound_us):
            log.warning(
                logs.CLOCK_UNSYNCHRONISED,
                workflow=workflow,
                synchronised=health.synchronised,
                esterror_us=health.esterror_us,
                max_error_us=bound_us,
            )

    # -- status -----------------------------------------------------------------------------
    def _tick(self) -> str:
        """Every few seconds: the metrics heartbeat and next fires, and systemd's STATUS=."""
        if self.metrics is not None:
            self.metrics.heartbeat(self.clock.now())
            self.metrics.next_fires(self.scheduler.next_fires())
        return self.status_line()

    def status_line(self) -> str:
        fires = self.scheduler.next_fires() if hasattr(self, "scheduler") else {}
        running = len(self.parts.engine.running()) if hasattr(self, "parts") else 0
        line = f"{len(self.snapshot.workflows)} workflows, {running} running"
        if fires:
            workflow, instant = min(fires.items(), key=lambda item: item[1])
            line += f", next: {workflow} at {instant.isoformat()}"
        return line

    async def status(self) -> Answer:
        fires = self.scheduler.next_fires()
        return {
            "pid": os.getpid(),
            "daemon_id": self.daemon_id,
            "version": __version__,
            "uptime_s": round(time.monotonic() - self.started_monotonic, 3),
            "config_digest": self.snapshot.digest,
            "last_reload": self.last_reload,
            "workflows": len(self.snapshot.workflows),
            "running": self.parts.engine.running(),
            "active": self.pool.active(),
            "queued": self.pool.queued(),
            "paused": sorted(n for n, s in self.pool.states.items() if self.pool.is_paused(s)),
            "next_fires": {name: at.isoformat() for name, at in sorted(fires.items())},
            "realtime": self.clock.realtime,
            "socket": str(self.settings.paths.socket),
            "state_dir": str(self.settings.paths.state_dir),
        }
