"""Events for people (through the Notifier) and the log tails they carry."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from tapri_daemon import logs
from tapri_daemon.credentials import mask
from tapri_daemon.engine.live import LiveRun
from tapri_daemon.interfaces import JSON, Event, EventKind

TAIL_LINES = 20
_TAIL_BYTES = 16 << 10


def log_tail(path: str | None, lines: int = TAIL_LINES) -> str | None:
    """The last ``lines`` lines of an attempt log (at most 16 KiB are read), or None."""
    if path is None:
        return None
    try:
        with open(path, "rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            handle.seek(max(0, size - _TAIL_BYTES))
            data = handle.read()
    except OSError:
        return None
    text = data.decode("utf-8", errors="replace")
    return "\n".join(text.splitlines()[-lines:])


async def notify(
    live: LiveRun,
    kind: EventKind,
    *,
    task_id: str | None = None,
    attempt: int | None = None,
    reason: str | None = None,
    details: Mapping[str, JSON] | None = None,
) -> None:
    """Hand an event to the notifier; a notifier that raises is logged, never fatal."""
    event = Event(
        kind=kind,
        workflow=live.setup.workflow_id,
        at=live.now(),
        run_id=live.setup.run_id,
        task_id=task_id,
        attempt=attempt,
        reason=mask(reason, live.secrets) if reason else reason,
        details=dict(details or {}),
    )
    try:
        await live.services.notifier.notify(event)
    except Exception as exc:
        live.log.warning(logs.NOTIFY_FAILED, kind=str(kind), error=f"{type(exc).__name__}: {exc}")


def failure_details(live: LiveRun, failed: list[str]) -> dict[str, Any]:
    """``failed_tasks`` and the ``log_tail`` of each one's last attempt."""
    tails: dict[str, str] = {}
    for task_id in failed:
        last = live.last_attempts.get(task_id)
        tail = log_tail(last.log_path if last else None)
        if tail:
            tails[task_id] = mask(tail, live.secrets)
    return {"failed_tasks": failed, "log_tail": tails}
