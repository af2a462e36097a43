"""The control socket's verbs: a request dict in, an answer dict out (or a TapriError).

trigger  workflow, params {}, at (ISO, optional), wait (bool)  -> run_id [, state]
pause    workflow                                               -> workflow, paused
unpause  workflow                                               -> workflow, paused
cancel   run_id, reason (optional)                              -> run_id, cancelled
retry    run_id, task (optional), downstream (bool), wait      -> run_id [, state]
reload   wait (bool)                                            -> diff / started
status                                                          -> pid, uptime, ...
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any, Protocol

from anyio.abc import TaskGroup

from tapri_daemon import logs
from tapri_daemon.daemon.runs import RunPool
from tapri_daemon.errors import ControlError, NotFoundError, TapriError
from tapri_daemon.interfaces import RunRecord, Store

log = logs.get_logger("tapri.control")

Answer = dict[str, Any]


class Retrying(Protocol):
    async def retry(
        self, run_id: str, *, task: str | None = None, downstream: bool = False
    ) -> RunRecord: ...

    def running(self) -> list[str]: ...


def _text(request: Mapping[str, Any], key: str) -> str:
    value = request.get(key)
    if not isinstance(value, str) or not value:
        raise ControlError(str(request.get("verb")), f'"{key}" (a non-empty string) is required', 2)
    return value


def _at(request: Mapping[str, Any]) -> datetime | None:
    value = request.get("at")
    if value is None:
        return None
    try:
        at = datetime.fromisoformat(str(value))
    except ValueError:
        raise ControlError("trigger", f'"at": {value!r} is not an ISO-8601 date-time', 2) from None
    if at.tzinfo is None:
        raise ControlError("trigger", f'"at": {value!r} needs a UTC offset, e.g. +05:30', 2)
    return at


class Verbs:
    """Implements ``control.Handler``."""

    def __init__(
        self,
        *,
        pool: RunPool,
        engine: Retrying,
        store: Store,
        tg: TaskGroup,
        reload: Callable[[], Awaitable[Answer]],
        status: Callable[[], Awaitable[Answer]],
    ) -> None:
        self.pool = pool
        self.engine = engine
        self.store = store
        self.tg = tg
        self.reload = reload
        self.status = status
        self._verbs: dict[str, Callable[[Mapping[str, Any]], Awaitable[Answer]]] = {
            "trigger": self.trigger,
            "pause": self.pause,
            "unpause": self.unpause,
            "cancel": self.cancel,
            "retry": self.retry,
            "reload": self.reload_verb,
            "status": self.status_verb,
        }

    async def __call__(self, request: dict[str, Any]) -> Answer:
        verb = self._verbs.get(request["verb"])
        if verb is None:
            known = ", ".join(sorted(self._verbs))
            raise ControlError(request["verb"], f"unknown verb (known: {known})", 2)
        return await verb(request)

    async def trigger(self, request: Mapping[str, Any]) -> Answer:
        params = request.get("params") or {}
        if not isinstance(params, dict):
            raise ControlError("trigger", '"params" must be an object', 2)
        workflow = _text(request, "workflow")
        run = await self.pool.trigger(workflow, params=params, at=_at(request))
        if not request.get("wait"):
            return {"run_id": run.run_id, "workflow": workflow}
        final = await self.pool.wait(run.run_id)
        return {"run_id": run.run_id, "workflow": workflow, "state": str(final.state)}

    async def pause(self, request: Mapping[str, Any]) -> Answer:
        workflow = _text(request, "workflow")
        await self.pool.set_paused(workflow, True)
        return {"workflow": workflow, "paused": True}

    async def unpause(self, request: Mapping[str, Any]) -> Answer:
        workflow = _text(request, "workflow")
        await self.pool.set_paused(workflow, False)
        paused = self.pool.is_paused(self.pool.state_of(workflow))
        return {"workflow": workflow, "paused": paused}

    async def cancel(self, request: Mapping[str, Any]) -> Answer:
        run_id = _text(request, "run_id")
        reason = str(request.get("reason") or "cancelled with tapri cancel")
        if self.pool.cancel(run_id, reason):
            return {"run_id": run_id, "cancelled": True}
        run = await self.store.get_run(run_id)
        if run is None:
            raise NotFoundError("run", run_id)
        raise ControlError("cancel", f'run "{run_id}" is {run.state}, not running or queued')

    async def retry(self, request: Mapping[str, Any]) -> Answer:
        run_id = _text(request, "run_id")
        task = request.get("task")
        downstream = bool(request.get("downstream"))
        if await self.store.get_run(run_id) is None:
            raise NotFoundError("run", run_id)
        if not request.get("wait"):
            self.tg.start_soon(self._retry_logged, run_id, task, downstream)
            return {"run_id": run_id, "started": True}
        final = await self.engine.retry(run_id, task=task, downstream=downstream)
        return {"run_id": run_id, "state": str(final.state)}

    async def _retry_logged(self, run_id: str, task: str | None, downstream: bool) -> None:
        try:
            await self.engine.retry(run_id, task=task, downstream=downstream)
        except TapriError as exc:
            log.warning(logs.CONTROL_REQUEST, verb="retry", run_id=run_id, error=exc.message)

    async def reload_verb(self, request: Mapping[str, Any]) -> Answer:
        if request.get("wait"):
            return await self.reload()
        self.tg.start_soon(self._reload_quietly)
        return {"started": True}

    async def _reload_quietly(self) -> None:
        with contextlib.suppress(TapriError):  # already logged as config.rejected
            await self.reload()

    async def status_verb(self, request: Mapping[str, Any]) -> Answer:
        return await self.status()
