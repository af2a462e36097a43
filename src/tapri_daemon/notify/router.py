"""The real Notifier: routes events to notifiers, folds repeats, delivers in the background.

    router = Router(definitions, clock=clock, default_timezone="Asia/Kolkata")
    await router.start(exit_stack)     # spawns the background tasks; cleanup drains them
    await router.notify(event)         # returns at once, never raises
    router.use(new_definitions)        # after a reload

``notify`` only puts the event on a queue. A dispatcher task routes it, folds repeats
(see folding.py) and renders a message per notifier; every message is delivered by its
own task, at most ``per_notifier`` at a time for one notifier, so a notifier that hangs
delays nothing but its own messages. A flusher task sends folded summaries when their
windows close. On shutdown the queue is drained, held summaries are sent, and deliveries
get ``drain_timeout`` seconds to finish before they are cancelled.
"""

from __future__ import annotations

import os
from contextlib import AsyncExitStack
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any

import anyio
from anyio.abc import TaskGroup

from tapri_daemon import credentials, logs, model, zones
from tapri_daemon.errors import TapriError
from tapri_daemon.interfaces import Clock, Event
from tapri_daemon.notify.delivery import AppriseSender, Delivery, Sender
from tapri_daemon.notify.folding import Folder, Summary, key_of
from tapri_daemon.notify.messages import Message, Renderer
from tapri_daemon.notify.routes import notifier_names

log = logs.get_logger("tapri.notify")


class Router:
    """Implements ``interfaces.Notifier``."""

    def __init__(
        self,
        definitions: model.Definitions,
        *,
        clock: Clock,
        credentials_dir: Path | None = None,
        environ: dict[str, str] | None = None,
        sender: Sender | None = None,
        default_timezone: str | None = None,
        queue_size: int = 1000,
        per_notifier: int = 2,
        drain_timeout: float = 5.0,
        backoff_s: float = 1.0,
    ) -> None:
        self._definitions = definitions
        self._clock = clock
        self._default_zone = default_timezone
        self._per_notifier = per_notifier
        self._drain_timeout = drain_timeout
        self._renderer = Renderer()
        self._folder = Folder()
        self._delivery = Delivery(
            clock=clock,
            sender=sender or AppriseSender(),
            sources=_sources(credentials_dir, environ),
            backoff_s=backoff_s,
        )
        self._intake_in, self._intake_out = anyio.create_memory_object_stream[Event](queue_size)
        self._limiters: dict[str, anyio.CapacityLimiter] = {}
        self._tg: TaskGroup | None = None
        self._pending = 0
        self._idle: anyio.Event | None = None
        self._wake: anyio.Event | None = None
        self._dispatched: anyio.Event | None = None

    # -- the Notifier seam ---------------------------------------------------------------
    async def notify(self, event: Event) -> None:
        """Queue ``event``; returns at once and never raises."""
        try:
            self._intake_in.send_nowait(event)
        except anyio.WouldBlock:
            _log_failed(event, "the notification queue is full")
            return
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            _log_failed(event, "the notifier router has stopped")
            return
        self._pending += 1

    def use(self, definitions: model.Definitions) -> None:
        """Route by these definitions from now on (after a reload)."""
        self._definitions = definitions

    # -- lifecycle -----------------------------------------------------------------------
    async def start(self, exit_stack: AsyncExitStack) -> None:
        """Spawn the dispatcher and the flusher; on exit, drain with a bound, then stop."""
        tg = await exit_stack.enter_async_context(anyio.create_task_group())
        exit_stack.push_async_callback(self._stop, tg)
        self._tg = tg
        self._wake = anyio.Event()
        self._dispatched = anyio.Event()
        tg.start_soon(self._dispatch_loop)
        tg.start_soon(self._flush_loop)

    async def wait_idle(self) -> None:
        """Return when every queued event is dispatched and every delivery has ended.

        Repeats held for a folded summary are not waited for.
        """
        while self._pending:
            self._idle = self._idle or anyio.Event()
            await self._idle.wait()

    async def _stop(self, tg: TaskGroup) -> None:
        with anyio.CancelScope(shield=True):
            self._intake_in.close()
            with anyio.move_on_after(self._drain_timeout):
                if self._dispatched is not None:
                    await self._dispatched.wait()
                for summary in self._folder.flush():
                    self._send_summary(summary)
                await self.wait_idle()
            tg.cancel_scope.cancel()

    # -- background tasks ----------------------------------------------------------------
    async def _dispatch_loop(self) -> None:
        try:
            async with self._intake_out:
                async for event in self._intake_out:
                    self._dispatch(event)
                    self._done()
        finally:
            if self._dispatched is not None:
                self._dispatched.set()

    async def _flush_loop(self) -> None:
        while True:
            wake = self._wake = anyio.Event()
            due = self._folder.next_due()
            if due is None:
                await wake.wait()
                continue
            await self._sleep_until_or_woken(due, wake)
            for summary in self._folder.due(self._clock.now()):
                self._send_summary(summary)

    async def _sleep_until_or_woken(self, due: datetime, wake: anyio.Event) -> None:
        async with anyio.create_task_group() as tg:

            async def woken() -> None:
                await wake.wait()
                tg.cancel_scope.cancel()

            tg.start_soon(woken)
            await self._clock.sleep_until(due)
            tg.cancel_scope.cancel()

    # -- routing, folding, sending ---------------------------------------------------------
    def _dispatch(self, event: Event) -> None:
        try:
            for name in notifier_names(self._definitions, event):
                self._offer(name, event)
        except Exception as exc:  # a bug here must not stop the dispatcher
            _log_failed(event, f"routing failed: {type(exc).__name__}: {exc}")
        if self._wake is not None:
            self._wake.set()

    def _offer(self, name: str, event: Event) -> None:
        notifier = self._definitions.notifier.get(name)
        if notifier is None:
            _log_failed(event, "no such notifier", notifier=name)
            return
        key = key_of(name, event)
        if self._folder.offer(key, event, notifier.min_interval, self._clock.now()):
            self._send(name, notifier, event)
            return
        log.info(
            logs.NOTIFY_FOLDED,
            notifier=name,
            kind=str(event.kind),
            workflow=event.workflow,
            run_id=event.run_id,
            held=self._folder.held(key),
        )

    def _send_summary(self, summary: Summary) -> None:
        name = summary.key[0]
        notifier = self._definitions.notifier.get(name)
        if notifier is None:
            return
        self._send(name, notifier, summary.latest, folded=summary.count)

    def _send(self, name: str, notifier: model.Notifier, event: Event, folded: int = 0) -> None:
        try:
            message = self._renderer.render(
                event,
                name,
                notifier,
                zone=self._zone(event.workflow),
                folded=folded,
                window=notifier.min_interval if folded else None,
            )
        except TapriError as exc:
            _log_failed(event, exc.message, notifier=name)
            return
        if message.template_error:
            _log_failed(event, message.template_error, notifier=name, fallback="built-in")
        self._spawn(name, notifier, message)

    def _spawn(self, name: str, notifier: model.Notifier, message: Message) -> None:
        if self._tg is None:
            return
        self._pending += 1
        self._tg.start_soon(self._deliver, name, notifier, message)

    async def _deliver(self, name: str, notifier: model.Notifier, message: Message) -> None:
        try:
            async with self._limiter(name):
                await self._delivery.deliver(name, notifier, message)
        except anyio.get_cancelled_exc_class():
            log.warning(
                logs.NOTIFY_FAILED,
                notifier=name,
                kind=str(message.kind),
                workflow=message.workflow,
                run_id=message.run_id,
                reason="stopped before the delivery finished",
            )
            raise
        finally:
            self._done()

    def _limiter(self, name: str) -> anyio.CapacityLimiter:
        if name not in self._limiters:
            self._limiters[name] = anyio.CapacityLimiter(self._per_notifier)
        return self._limiters[name]

    def _done(self) -> None:
        self._pending -= 1
        if self._pending <= 0 and self._idle is not None:
            self._idle.set()
            self._idle = None

    def _zone(self, workflow_id: str) -> tzinfo:
        workflow = self._definitions.workflow.get(workflow_id)
        name = (workflow.timezone if workflow else None) or self._default_zone
        if name:
            return zones.zone(name)
        local = datetime.now().astimezone().tzinfo
        return local if local is not None else zones.zone("UTC")


def _sources(credentials_dir: Path | None, environ: dict[str, str] | None) -> credentials.Sources:
    folder = credentials_dir
    if folder is None and os.environ.get("CREDENTIALS_DIRECTORY"):
        folder = Path(os.environ["CREDENTIALS_DIRECTORY"])
    return credentials.Sources(
        environ=environ if environ is not None else dict(os.environ), credentials_dir=folder
    )


def _log_failed(event: Event, reason: str, **fields: Any) -> None:
    log.warning(
        logs.NOTIFY_FAILED,
        kind=str(event.kind),
        workflow=event.workflow,
        run_id=event.run_id,
        reason=reason,
        **fields,
    )
