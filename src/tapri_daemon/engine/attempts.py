"""One task of a run, attempt after attempt: slots, the fire instant, the executor, retries."""

from __future__ import annotations

import asyncio
import functools
from dataclasses import replace
from datetime import datetime

import anyio

from tapri_daemon import logs
from tapri_daemon.credentials import mask, mask_value
from tapri_daemon.engine import retry
from tapri_daemon.engine.fire import (
    Current,
    Release,
    fire_late,
    fire_target,
    from_ns,
    log_started,
    to_ns,
    with_instant,
)
from tapri_daemon.engine.limits import acquire_all, release_all
from tapri_daemon.engine.live import Ended, LiveRun, Queued, TaskEnd, committed
from tapri_daemon.engine.notices import notify
from tapri_daemon.engine.requests import build_request
from tapri_daemon.errors import SecretError, TemplateError
from tapri_daemon.interfaces import (
    AttemptRecord,
    AttemptRequest,
    AttemptResult,
    EventKind,
    Outcome,
    ProcessInfo,
    TaskRecord,
    TaskState,
)

INTERRUPTED = "interrupted: the daemon stopped while the attempt ran"


class _Observer:
    def __init__(self, live: LiveRun, current: Current, start: Queued) -> None:
        self.live = live
        self.current = current
        self.start = start

    async def spawned(self, info: ProcessInfo) -> None:
        await committed(self.start)  # the pid must land after the attempt's first row
        self.current.record = replace(
            self.current.record, pid=info.pid, pgid=info.pgid, pid_start_time=info.start_time
        )
        await self.live.save_attempt(self.current.record)

    def stopped(self, killed: int) -> None:
        self.current.record = replace(self.current.record, killed=killed)


def _reason(result: AttemptResult) -> str:
    if result.error:
        return result.error
    if result.exit_code is not None:
        return f"{result.outcome}: exit code {result.exit_code}"
    return str(result.outcome)


async def run_attempts(live: LiveRun, task_id: str) -> TaskEnd:
    """Attempts until one succeeds or the retry policy gives up."""
    known = live.tasks.get(task_id)
    attempt = known.attempts if known else 0
    base = live.budget_base.get(task_id, 0)
    if attempt > base:
        given_up = await _continue_after(live, task_id, attempt, base)
        if given_up is not None:
            return given_up
    while True:
        attempt += 1
        try:
            request = build_request(live, task_id, attempt)
        except (TemplateError, SecretError) as exc:
            return TaskEnd(state=TaskState.FAILED, attempts=attempt - 1, reason=exc.message)
        ended = await _attempt(live, task_id, request)
        if ended.result.outcome is Outcome.SUCCESS:
            output = mask_value(ended.result.output, request.secrets)
            return TaskEnd(state=TaskState.SUCCESS, attempts=attempt, output=output, ended=ended)
        end = await _after_failure(live, task_id, attempt, base, ended, request)
        if end is not None:
            return end


async def _after_failure(
    live: LiveRun,
    task_id: str,
    attempt: int,
    base: int,
    ended: Ended,
    request: AttemptRequest,
) -> TaskEnd | None:
    settings = live.settings(task_id)
    result = ended.result
    reason = mask(_reason(result), request.secrets)
    rng = live.services.rng
    delay = retry.decide(settings, attempt - base, result.outcome, result.exit_code, rng)
    if delay is None:
        state = TaskState.CANCELLED if result.outcome is Outcome.CANCELLED else TaskState.FAILED
        return TaskEnd(state=state, attempts=attempt, reason=reason, ended=ended)
    await _retry_wait(live, task_id, attempt, delay, reason, ended)
    return None


async def _continue_after(live: LiveRun, task_id: str, attempt: int, base: int) -> TaskEnd | None:
    """A resumed task: decide about its last attempt (lost, failed) before the next one."""
    last = live.last_attempts.get(task_id)
    if last is not None and last.outcome is None:
        last = replace(last, outcome=Outcome.LOST, ended_at=live.now(), error=INTERRUPTED)
        await live.save_attempt(last)
    outcome = last.outcome if last is not None and last.outcome is not None else Outcome.LOST
    if outcome is Outcome.SUCCESS:
        return None  # ended before its output was stored: run it again
    exit_code = last.exit_code if last is not None else None
    settings = live.settings(task_id)
    delay = retry.decide(settings, attempt - base, outcome, exit_code, live.services.rng)
    reason = (last.error if last is not None else None) or f"attempt {attempt} was {outcome}"
    if delay is None:
        return TaskEnd(state=TaskState.FAILED, attempts=attempt, reason=reason)
    await _retry_wait(live, task_id, attempt, delay, reason)
    return None


async def _retry_wait(
    live: LiveRun,
    task_id: str,
    attempt: int,
    delay: float,
    reason: str,
    ended: Ended | None = None,
) -> None:
    record = live.task_record(task_id, TaskState.UP_FOR_RETRY, attempts=attempt, reason=reason)
    if ended is None:
        await live.save_task(record)
    else:
        await save_ended(live, task_id, record, ended)
    live.log.info(
        logs.TASK_RETRYING,
        task_id=task_id,
        attempt=attempt,
        next_attempt=attempt + 1,
        delay_s=round(delay, 3),
        reason=reason,
    )
    details = {"delay_s": round(delay, 3), "next_attempt": attempt + 1}
    await notify(
        live,
        EventKind.TASK_RETRYING,
        task_id=task_id,
        attempt=attempt,
        reason=reason,
        details=details,
    )
    await live.services.clock.sleep(delay)


async def _attempt(live: LiveRun, task_id: str, request: AttemptRequest) -> Ended:
    slots = live.slots_for(task_id)
    await acquire_all(slots)
    try:
        if live.shape.workflow.task[task_id].at_fire:
            return await _fire(live, task_id, request)
        if live.shape.workflow.precise:
            request = with_instant(live, request)
        return await _execute(live, task_id, request)
    finally:
        release_all(slots)


async def _fire(live: LiveRun, task_id: str, request: AttemptRequest) -> Ended:
    """An at_fire task: handed to the executor *before* its instant, holding its slots; the
    executor prepares and releases it at the instant (``request.fire_at_ns``). Upstreams
    done only after the instant: ``fire.late``, and the executor releases it at once."""
    target = fire_target(live, task_id)
    target_ns = to_ns(target)
    request = replace(request, fire_at_ns=target_ns)
    late_ns = live.services.clock.time_ns() - target_ns
    if late_ns > 0:
        await fire_late(live, task_id, request.attempt, late_ns / 1000)
        return await _execute(live, task_id, request)
    return await _execute(live, task_id, request, armed=target)


async def _execute(
    live: LiveRun, task_id: str, request: AttemptRequest, armed: datetime | None = None
) -> Ended:
    """Run one attempt. Its start is committed while it runs, not before, and its end is
    awaited together with its start (``save_ended``): one commit per task on the critical
    path from an upstream's end to a downstream's start. The store commits in order, so the
    attempt's pid (``spawned``) and its end always land after its start; ``task.started``
    is logged once the start is committed. An ``armed`` attempt (an at_fire task before its
    instant) starts ``waiting`` and is marked ``running`` at the instant (``Release``).
    """
    current = Current(record=_start_record(live, request))
    state = TaskState.RUNNING if armed is None else TaskState.WAITING
    first = live.task_record(task_id, state, attempts=request.attempt)
    queued = live.queue_pair(first, current.record)
    queued[-1].add_done_callback(functools.partial(_logged, live, task_id, request, armed))
    release = Release(live, task_id, current, armed or live.now())
    try:
        observer = _Observer(live, current, queued)
        if armed is None:
            result = await live.services.executor.execute(request, observer)
        else:
            result = await _armed(live, request, observer, release)
    except anyio.get_cancelled_exc_class():
        with anyio.CancelScope(shield=True):
            await committed((*queued, *release.writes))
            await _save_interrupted(live, task_id, current)
        raise
    record = _end_record(live, current, result, request)
    return Ended(record=record, result=result, start=(*queued, *release.writes))


async def _armed(
    live: LiveRun, request: AttemptRequest, observer: _Observer, release: Release
) -> AttemptResult:
    async with anyio.create_task_group() as tg:
        tg.start_soon(release.at)
        result = await live.services.executor.execute(request, observer)
        tg.cancel_scope.cancel()
    if result.released_ns is not None:
        release.mark()
    return result


def _logged(
    live: LiveRun,
    task_id: str,
    request: AttemptRequest,
    armed: datetime | None,
    saved: asyncio.Future[None],
) -> None:
    """The attempt's first records are committed: log ``task.started`` or ``task.waiting``."""
    if saved.cancelled() or saved.exception() is not None:
        return
    if armed is None:
        log_started(live, task_id, request.attempt)
    else:
        fire_at = armed.isoformat()
        live.log.info(logs.TASK_WAITING, task_id=task_id, attempt=request.attempt, fire_at=fire_at)


def _start_record(live: LiveRun, request: AttemptRequest) -> AttemptRecord:
    return AttemptRecord(
        run_id=live.setup.run_id,
        task_id=request.task_id,
        attempt=request.attempt,
        outcome=None,
        started_at=live.now(),
        daemon_id=live.services.config.daemon_id,
        log_path=request.log_path,
        fire_target_ns=request.fire_at_ns,
    )


async def _save_interrupted(live: LiveRun, task_id: str, current: Current) -> None:
    """The attempt was cancelled: by the engine (race, deadline, run stop) or the daemon."""
    by_engine = live.stopping or task_id in live.cancel_reasons
    reason = live.cancel_reasons.get(task_id) or live.stop_reason or INTERRUPTED
    outcome = Outcome.CANCELLED if by_engine else Outcome.LOST
    current.record = replace(
        current.record, outcome=outcome, ended_at=live.now(), error=mask(reason, live.secrets)
    )
    await live.save_attempt(current.record)
    live.log.info(
        logs.TASK_FINISHED,
        task_id=task_id,
        attempt=current.record.attempt,
        outcome=str(outcome),
        reason=reason,
    )


def _end_record(
    live: LiveRun, current: Current, result: AttemptResult, request: AttemptRequest
) -> AttemptRecord:
    start = current.record
    actual = result.released_ns if request.fire_at_ns is not None else None
    current.record = AttemptRecord(
        run_id=start.run_id,
        task_id=start.task_id,
        attempt=start.attempt,
        outcome=result.outcome,
        started_at=from_ns(actual) if actual is not None else start.started_at,
        ended_at=live.now(),
        exit_code=result.exit_code,
        error=mask(result.error, request.secrets) if result.error else None,
        pid=start.pid,
        pgid=start.pgid,
        pid_start_time=start.pid_start_time,
        daemon_id=start.daemon_id,
        log_path=start.log_path,
        killed=result.killed,
        fire_target_ns=start.fire_target_ns,
        fire_actual_ns=actual,
    )
    return current.record


async def save_ended(live: LiveRun, task_id: str, task: TaskRecord, ended: Ended) -> None:
    """Save an ended attempt with the task record that follows it, then log the end."""
    await live.save_pair(task, ended.record, after=ended.start)
    _log_end(live, task_id, ended.record, ended.result)


def _log_end(live: LiveRun, task_id: str, record: AttemptRecord, result: AttemptResult) -> None:
    if record.lateness_us is not None:
        live.log.info(
            logs.TASK_FIRED,
            task_id=task_id,
            attempt=record.attempt,
            lateness_us=record.lateness_us,
        )
    level = live.log.info if result.outcome is Outcome.SUCCESS else live.log.warning
    level(
        logs.TASK_FINISHED,
        task_id=task_id,
        attempt=record.attempt,
        outcome=str(result.outcome),
        duration_s=round((result.ended_ns - result.started_ns) / 1e9, 6),
        exit_code=result.exit_code,
        error=record.error,
    )
