"""Sending one message to one notifier: apprise, time-bounded tries, retries with backoff.

``Delivery.deliver`` never raises: it expands the notifier's URLs at send time (so a
rotated credential is picked up), gives each try ``notifier.timeout``, retries
``notifier.retries`` times after 1s, 2s, 4s… (capped at 30s) on the injected clock, and
logs ``notify.sent`` or, at the end, ``notify.failed``. Logs name the notifier, never a
URL, and every error text is masked with the secrets the expansion produced.

``AppriseSender`` is the real ``Sender``: ``apprise.Apprise.async_notify`` runs the
blocking plugins in apprise's worker threads, so the event loop never blocks; each
service's socket timeouts are set to the try's timeout so an abandoned worker thread is
freed soon after. apprise's own logger is kept out of tapri's logs (it may print URLs);
its captured log lines become the (masked) failure reason instead.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Protocol

import anyio

from tapri_daemon import credentials, logs, model
from tapri_daemon.errors import NotifyError, SecretError
from tapri_daemon.interfaces import Clock
from tapri_daemon.notify.messages import Message

GRACE_S = 1.0
"""Extra time past the notifier's timeout before a try is abandoned from our side."""
MAX_BACKOFF_S = 30.0

log = logs.get_logger("tapri.notify")


class Sender(Protocol):
    async def send(
        self, name: str, urls: Sequence[str], message: Message, *, time_limit: float
    ) -> None:
        """Deliver once to every URL; raise NotifyError (or time out) on failure."""
        ...


def _quiet_apprise() -> None:
    logging.getLogger("apprise").propagate = False


def _reason(result: Any) -> str:
    lines = [
        entry.message for entry in result.logs() if entry.level in ("WARNING", "ERROR", "CRITICAL")
    ]
    status = getattr(getattr(result, "status", None), "name", "FAILURE").lower()
    return "; ".join(lines[-3:]) if lines else f"apprise reported {status}"


class AppriseSender:
    """Sends through apprise: every channel apprise knows works without code of ours."""

    def __init__(self) -> None:
        import apprise

        self._apprise: Any = apprise
        _quiet_apprise()

    async def send(
        self, name: str, urls: Sequence[str], message: Message, *, time_limit: float
    ) -> None:
        # Building parses the URLs (and loads apprise's plugins the first time): a thread.
        apobj = await anyio.to_thread.run_sync(self._build, name, urls, time_limit)
        result = await apobj.async_notify(
            body=message.body,
            title=message.title,
            notify_type=message.notify_type,
            body_format=self._apprise.NotifyFormat.TEXT,
            timeout=time_limit,
        )
        try:
            if not result:
                raise NotifyError(name, _reason(result))
        finally:
            result.close()

    def _build(self, name: str, urls: Sequence[str], time_limit: float) -> Any:
        apobj = self._apprise.Apprise()
        for index, url in enumerate(urls, start=1):
            if not apobj.add(url):
                raise NotifyError(name, f"URL #{index} is not a URL apprise understands")
        for service in apobj:
            service.socket_connect_timeout = time_limit
            service.socket_read_timeout = time_limit
        return apobj


def backoff(attempt: int, base: float) -> float:
    """Seconds before try ``attempt + 1``: base, 2·base, 4·base…, at most MAX_BACKOFF_S."""
    return float(min(base * 2 ** (attempt - 1), MAX_BACKOFF_S))


class Delivery:
    """Tries, retries and logs the outcome of one message to one notifier."""

    def __init__(
        self,
        *,
        clock: Clock,
        sender: Sender,
        sources: credentials.Sources,
        backoff_s: float = 1.0,
    ) -> None:
        self._clock = clock
        self._sender = sender
        self._sources = sources
        self._backoff_s = backoff_s

    async def deliver(self, name: str, notifier: model.Notifier, message: Message) -> bool:
        """True once delivered; False after the last try failed (logged as notify.failed)."""
        tries = notifier.retries + 1
        reason = "not tried"
        for attempt in range(1, tries + 1):
            reason_or_none = await self._try(name, notifier, message)
            if reason_or_none is None:
                self._log(message, logs.NOTIFY_SENT, tries=attempt)
                return True
            reason = reason_or_none
            if attempt < tries:
                await self._clock.sleep(backoff(attempt, self._backoff_s))
        self._log(message, logs.NOTIFY_FAILED, tries=tries, reason=reason, level="warning")
        return False

    async def _try(self, name: str, notifier: model.Notifier, message: Message) -> str | None:
        secrets: tuple[str, ...] = ()
        timeout = notifier.timeout.total_seconds()
        try:
            urls, secrets = self._expand(notifier.urls)
            with anyio.fail_after(timeout + GRACE_S):
                await self._sender.send(name, urls, message, time_limit=timeout)
        except TimeoutError:
            return f"no answer within {timeout:g}s"
        except NotifyError as exc:
            return credentials.mask(exc.reason, secrets)
        except SecretError as exc:
            return exc.message
        except Exception as exc:  # a plugin bug must not end the delivery task
            return credentials.mask(f"{type(exc).__name__}: {exc}", secrets)
        return None

    def _expand(self, urls: Sequence[str]) -> tuple[list[str], tuple[str, ...]]:
        expanded = [credentials.expand(url, self._sources) for url in urls]
        return [e.value for e in expanded], tuple(s for e in expanded for s in e.secrets)

    @staticmethod
    def _log(message: Message, event: str, *, level: str = "info", **fields: Any) -> None:
        getattr(log, level)(
            event,
            notifier=message.notifier,
            kind=str(message.kind),
            workflow=message.workflow,
            run_id=message.run_id,
            folded=message.folded,
            **fields,
        )
