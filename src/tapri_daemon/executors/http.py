"""http tasks through one shared httpx.AsyncClient.

``request.http`` holds the rendered request: ``url``, ``method`` (GET), ``headers``,
``params``, ``json`` (a JSON body) or ``body`` (text), ``expect_status`` (empty: any 2xx).
Redirects are followed. A status outside the expected ones fails the attempt with the
status and the first 500 bytes of the body. The body is read in chunks and at most
``output_limit`` bytes are kept (a bigger one fails the attempt); the output is the parsed
JSON when the body is JSON (by content type, or when it parses), else the text; an empty
body gives ``null``. ``request.timeout`` bounds the whole exchange (outcome timeout);
without one, connecting is bounded by 30 s and reading is not.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import anyio
import httpx

from tapri_daemon.executors import output
from tapri_daemon.executors.capture import LogCapture
from tapri_daemon.executors.output import Checked
from tapri_daemon.executors.release import release_at, released
from tapri_daemon.interfaces import (
    AttemptObserver,
    AttemptRequest,
    AttemptResult,
    Clock,
    Outcome,
)

ERROR_BODY = 500
_FAILURES = (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError, TypeError, ValueError)
_CONNECT_TIMEOUT = 30.0


def _content(spec: Mapping[str, Any]) -> dict[str, Any]:
    body = spec.get("json", spec.get("json_body"))
    if body is not None:
        return {"json": body}
    if spec.get("body") is not None:
        return {"content": str(spec["body"]).encode()}
    return {}


async def _read_capped(response: httpx.Response, limit: int) -> tuple[bytes, bool]:
    parts: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        parts.append(chunk[: limit + 1 - size])
        size += len(chunk)
        if size > limit:
            return b"".join(parts), True
    return b"".join(parts), False


def _decode(response: httpx.Response, body: bytes) -> Any:
    if not body:
        return None
    text = body.decode(response.encoding or "utf-8", "replace")
    try:
        return output.loads(text)
    except ValueError:
        if "json" in response.headers.get("content-type", ""):
            raise
        return text


def _expected(spec: Mapping[str, Any], status: int) -> bool:
    wanted = tuple(spec.get("expect_status") or ())
    return status in wanted if wanted else 200 <= status < 300


def _verdict(request: AttemptRequest, response: httpx.Response, body: bytes, over: bool) -> Checked:
    spec = request.http or {}
    if not _expected(spec, response.status_code):
        snippet = body[:ERROR_BODY].decode("utf-8", "replace")
        return Checked(error=f"HTTP {response.status_code} from {spec.get('url')}: {snippet}")
    if over:
        return Checked(
            error=f"the response body is over the output limit of {request.output_limit} bytes"
        )
    try:
        value = _decode(response, body)
    except ValueError as exc:
        return Checked(error=f"the response says JSON but is not: {exc}")
    return output.check(value, request.output_limit, request.secrets)


class HttpExecutor:
    def __init__(self, clock: Clock, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._clock = clock
        self._client = httpx.AsyncClient(transport=transport, follow_redirects=True)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def execute(self, request: AttemptRequest, observer: AttemptObserver) -> AttemptResult:
        started = time.time_ns()
        capture = LogCapture(request.log_path, request.log_limit)
        verdict = Checked()
        sent: list[int] = []
        try:
            with anyio.CancelScope() as scope:
                built = self._build(request)
                await release_at(self._clock, request, scope)
                verdict = await self._exchange(request, built, capture, sent)
        except _FAILURES as exc:
            error = f"{type(exc).__name__}: {exc}"
            capture.note(output.clean_error(f"http failed: {error}", request.secrets))
            capture.close()
            at = released(request, sent)
            return output.finished(
                Outcome.FAILED, started, error=error, secrets=request.secrets, released_ns=at
            )
        capture.close()
        if scope.cancelled_caught:
            error = f"timed out after {request.timeout:g} s"
            at = released(request, sent)
            return output.finished(Outcome.TIMEOUT, started, error=error, released_ns=at)
        outcome = Outcome.SUCCESS if verdict.error is None else Outcome.FAILED
        return output.finished(
            outcome,
            started,
            output=verdict.value,
            error=verdict.error,
            secrets=request.secrets,
            released_ns=released(request, sent),
        )

    def _build(self, request: AttemptRequest) -> httpx.Request:
        """The request, built before a precise fire's instant (URL, headers, body encoded)."""
        spec = request.http or {}
        return self._client.build_request(
            str(spec.get("method") or "GET").upper(),
            str(spec.get("url")),
            headers=dict(spec.get("headers") or {}),
            params=dict(spec.get("params") or {}),
            timeout=httpx.Timeout(None, connect=_CONNECT_TIMEOUT),
            **_content(spec),
        )

    async def _exchange(
        self, request: AttemptRequest, built: httpx.Request, capture: LogCapture, sent: list[int]
    ) -> Checked:
        sent.append(time.time_ns())
        response = await self._client.send(built, stream=True)
        try:
            body, over = await _read_capped(response, request.output_limit)
        finally:
            await response.aclose()
        line = f"http: {built.method} {response.url} -> {response.status_code} ({len(body)} bytes)"
        capture.note(output.clean_error(line, request.secrets))
        return _verdict(request, response, body, over)
