"""One run as a structured task group over its graph.

Every task whose upstreams are settled and whose trigger rule holds is started at once in
the run's task group; watchers for the workflow timeout and for deadlines run beside it.
The run ends when every task has ended, or when ``stop`` cancels what is still running
(``cancel()``, the workflow timeout, a deadline with ``deadline_action = "cancel"``).

If the coroutine is cancelled from outside instead (the daemon stopping), running attempts
are recorded ``lost``, the run stays ``running`` in the store, and ``Engine.execute``
resumes it later: finished tasks are kept, lost attempts are retried per policy.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import anyio
from anyio.abc import TaskGroup

from tapri_daemon import durations, logs
from tapri_daemon.engine.attempts import run_attempts, save_ended
from tapri_daemon.engine.deadlines import deadline_instant, describe
from tapri_daemon.engine.live import LiveRun, TaskEnd
from tapri_daemon.engine.notices import failure_details, notify
from tapri_daemon.engine.progress import Decisions
from tapri_daemon.interfaces import EventKind, RunRecord, RunState, TaskState

_SHOWN_FAILURES = 10


class RunExecution:
    """Executes (or resumes) one run; ``stop`` ends it early."""

    def __init__(self, live: LiveRun) -> None:
        self.live = live
        self._graph: TaskGroup | None = None
        self._stop_state = RunState.CANCELLED

    # -- control ------------------------------------------------------------------------
    def stop(self, reason: str, state: RunState = RunState.CANCELLED) -> bool:
        """Cancel every running task; the run ends in ``state`` with ``reason``."""
        live = self.live
        if live.stopping:
            return False
        live.stop_reason = reason
        self._stop_state = state
        if self._graph is not None:
            self._graph.cancel_scope.cancel()
        return True

    # -- the run ------------------------------------------------------------------------
    async def execute(self) -> RunRecord:
        live = self.live
        record = await self._start()
        decisions = live.progress.begin(
            {t: r.state for t, r in live.tasks.items() if r.state.finished}
        )
        self._restore_race_outputs()
        async with anyio.create_task_group() as outer:
            self._start_watchers(outer, record.started_at or live.now())
            async with anyio.create_task_group() as graph:
                self._graph = graph
                if live.stopping:
                    graph.cancel_scope.cancel()
                else:
                    await self._apply(decisions)
            outer.cancel_scope.cancel()
        return await self._finish(record)

    async def _start(self) -> RunRecord:
        live = self.live
        setup = live.setup
        record = replace(
            setup.record,
            state=RunState.RUNNING,
            started_at=setup.record.started_at or live.now(),
            ended_at=None,
            reason=None,
            daemon_id=live.services.config.daemon_id,
        )
        await live.services.store.save_run(record)
        setup.log_dir.mkdir(parents=True, exist_ok=True)
        live.log.info(
            logs.RUN_STARTED,
            trigger=str(record.trigger),
            logical_date=record.logical_date.isoformat(),
            tasks=len(setup.shape.graph.order),
            resumed=bool(live.tasks),
        )
        return record

    def _restore_race_outputs(self) -> None:
        live = self.live
        for race, winner in live.progress.winners.items():
            if winner in live.outputs:
                live.outputs[race] = live.outputs[winner]

    # -- tasks --------------------------------------------------------------------------
    async def _apply(self, decisions: Decisions) -> None:
        live = self.live
        for task_id in decisions.cancel:
            race = live.progress.race_of(task_id)
            winner = live.progress.winners.get(race or "")
            live.cancel_task(task_id, f'race "{race}" was won by "{winner}"')
        if decisions.settled:
            records = [
                live.task_record(s.task_id, s.state, reason=s.reason) for s in decisions.settled
            ]
            await live.save_tasks(records)
            for settled in decisions.settled:
                live.log.info(
                    logs.TASK_SKIPPED,
                    task_id=settled.task_id,
                    state=str(settled.state),
                    reason=settled.reason,
                )
        if self._graph is not None and not live.stopping:
            for task_id in decisions.start:
                self._graph.start_soon(self._run_task, task_id)

    async def _run_task(self, task_id: str) -> None:
        live = self.live
        if task_id in live.cancel_reasons:
            await self._finished(task_id, self._cancelled_end(task_id))
            return
        try:
            if live.shape.cancellable(task_id):
                end = await self._in_own_scope(task_id)
            else:
                end = await run_attempts(live, task_id)
        except anyio.get_cancelled_exc_class():
            with anyio.CancelScope(shield=True):
                await self._interrupted(task_id)
            raise
        await self._finished(task_id, end)

    async def _in_own_scope(self, task_id: str) -> TaskEnd:
        """A task that can be cancelled on its own (race member, deadline with cancel)."""
        live = self.live
        scope = anyio.CancelScope()
        live.scopes[task_id] = scope
        try:
            with scope:
                return await run_attempts(live, task_id)
        finally:
            live.scopes.pop(task_id, None)
        return self._cancelled_end(task_id)  # reached only when this scope was cancelled

    def _cancelled_end(self, task_id: str) -> TaskEnd:
        live = self.live
        known = live.tasks.get(task_id)
        return TaskEnd(
            state=TaskState.CANCELLED,
            attempts=known.attempts if known else 0,
            reason=live.cancel_reasons.get(task_id, "cancelled"),
        )

    async def _interrupted(self, task_id: str) -> None:
        """The whole run is being cancelled while this task ran."""
        live = self.live
        if live.stopping:
            record = live.task_record(task_id, TaskState.CANCELLED, reason=live.stop_reason)
            await live.save_task(record)

    async def _finished(self, task_id: str, end: TaskEnd) -> None:
        live = self.live
        record = live.task_record(
            task_id, end.state, attempts=end.attempts, output=end.output, reason=end.reason
        )
        if end.ended is None:
            await live.save_task(record)
        else:
            await save_ended(live, task_id, record, end.ended)
        if end.state is TaskState.SUCCESS:
            live.outputs[task_id] = end.output
        decisions = live.progress.finish(task_id, end.state)
        race = live.progress.race_of(task_id)
        if race is not None and live.progress.winners.get(race) == task_id:
            live.outputs[race] = end.output
        await self._apply(decisions)

    # -- watchers -----------------------------------------------------------------------
    def _start_watchers(self, group: TaskGroup, started_at: datetime) -> None:
        live = self.live
        workflow = live.shape.workflow
        if workflow.timeout is not None:
            group.start_soon(self._watch_timeout, started_at + workflow.timeout)
        if workflow.deadline is not None:
            group.start_soon(self._watch_deadline, None)
        for task_id, task in workflow.task.items():
            if task.deadline is not None and not live.progress.states[task_id].finished:
                group.start_soon(self._watch_deadline, task_id)

    async def _watch_timeout(self, at: datetime) -> None:
        await self.live.services.clock.sleep_until(at)
        timeout = self.live.shape.workflow.timeout
        assert timeout is not None
        self.stop(f"run timed out after {durations.format_duration(timeout)}", RunState.FAILED)

    async def _watch_deadline(self, task_id: str | None) -> None:
        live = self.live
        owner = live.shape.workflow if task_id is None else live.shape.workflow.task[task_id]
        assert owner.deadline is not None
        at = deadline_instant(owner.deadline, live.setup.record.logical_date, live.setup.zone)
        await live.services.clock.sleep_until(at)
        if task_id is not None and live.progress.states[task_id].finished:
            return
        reason = f"missed its deadline ({describe(owner.deadline)}, {at.isoformat()})"
        live.log.warning(
            logs.DEADLINE_MISSED,
            task_id=task_id,
            deadline=at.isoformat(),
            action=owner.deadline_action,
        )
        details = {"deadline": at.isoformat(), "action": owner.deadline_action}
        await notify(
            live, EventKind.DEADLINE_MISSED, task_id=task_id, reason=reason, details=details
        )
        if owner.deadline_action != "cancel":
            return
        if task_id is None:
            self.stop(f"run {reason}", RunState.FAILED)
        else:
            live.cancel_task(task_id, f"task {reason}")

    # -- the end ------------------------------------------------------------------------
    async def _finish(self, record: RunRecord) -> RunRecord:
        live = self.live
        if live.stopping:
            await self._cancel_unfinished()
        state, reason = self._outcome()
        recovered = state is RunState.SUCCESS and await self._previous_failed()
        final = replace(record, state=state, reason=reason, ended_at=live.now())
        await live.services.store.save_run(final)
        started = final.started_at or final.ended_at
        assert started is not None and final.ended_at is not None
        live.log.info(
            logs.RUN_FINISHED,
            state=str(state),
            reason=reason,
            duration_s=round((final.ended_at - started).total_seconds(), 6),
        )
        await self._announce(state, reason, recovered)
        return final

    async def _cancel_unfinished(self) -> None:
        live = self.live
        records = [
            live.task_record(task_id, TaskState.CANCELLED, reason=live.stop_reason)
            for task_id in live.progress.unfinished()
            if task_id not in live.tasks or not live.tasks[task_id].state.finished
        ]
        if records:
            await live.save_tasks(records)

    def _outcome(self) -> tuple[RunState, str | None]:
        live = self.live
        if live.stopping:
            return self._stop_state, live.stop_reason
        blocking = live.progress.blocking()
        if not blocking:
            return RunState.SUCCESS, None
        shown = ", ".join(blocking[:_SHOWN_FAILURES])
        more = len(blocking) - _SHOWN_FAILURES
        return RunState.FAILED, f"tasks did not succeed: {shown}" + (
            f" and {more} more" if more > 0 else ""
        )

    async def _previous_failed(self) -> bool:
        """Whether the workflow's latest finished run before this success had failed.

        A retried run that had failed counts too, unless a newer run finished since.
        """
        live = self.live
        finished = (RunState.SUCCESS, RunState.FAILED)
        runs = await live.services.store.list_runs(
            workflow=live.setup.workflow_id, states=finished, limit=2
        )
        others = [r for r in runs if r.run_id != live.setup.run_id]
        latest = others[0] if others else None
        mine = live.setup.record
        if live.setup.previous_state is RunState.FAILED and (
            latest is None or latest.queued_at <= mine.queued_at
        ):
            return True
        return latest is not None and latest.state is RunState.FAILED

    async def _announce(self, state: RunState, reason: str | None, recovered: bool) -> None:
        live = self.live
        if state is RunState.FAILED:
            failed = [t for t in live.progress.blocking() if live.tasks.get(t)]
            details = failure_details(live, failed)
            await notify(live, EventKind.RUN_FAILED, reason=reason, details=details)
        elif state is RunState.SUCCESS:
            await notify(live, EventKind.RUN_SUCCEEDED)
            if recovered:
                await notify(live, EventKind.RUN_RECOVERED)
