"""Fires through the real Engine on fakes: catch-up, recording, overlap, pause, manual runs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
from structlog.testing import capture_logs

from tapri_daemon import logs
from tapri_daemon.daemon.fires import FireHandler
from tapri_daemon.daemon.runs import RunPool
from tapri_daemon.interfaces import (
    EventKind,
    FireRecord,
    FireStatus,
    RunRecord,
    RunState,
    Trigger,
)
from tapri_daemon.testing import EngineHarness, definitions_of

T0 = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


class EveryMinute:
    def next_fire(self, after: datetime) -> datetime | None:
        return after.replace(second=0, microsecond=0) + MINUTE

    def count_between(self, after: datetime, until: datetime) -> int:
        floor = until.replace(second=0, microsecond=0)
        return max(0, int((floor - after.replace(second=0, microsecond=0)) / MINUTE))

    def latest_between(self, after: datetime, until: datetime) -> datetime | None:
        latest = until.replace(second=0, microsecond=0)
        return latest if latest > after else None


@dataclass
class Rig:
    harness: EngineHarness
    pool: RunPool
    fires: FireHandler

    async def fire_records(self) -> list[FireRecord]:
        store = self.harness.store
        return sorted(store._fires.values(), key=lambda f: f.scheduled_for)

    async def runs(self) -> list[RunRecord]:
        found = await self.harness.store.list_runs(limit=10_000)
        return sorted(found, key=lambda r: r.logical_date)


@asynccontextmanager
async def rig(
    tmp_path: Path, *, now: datetime, handler: Any = None, **workflow: Any
) -> AsyncIterator[Rig]:
    definitions = definitions_of({"t": {"command": "true"}}, **workflow)
    harness = EngineHarness(definitions, handler, log_dir=tmp_path, start=now)
    pool = RunPool(engine=harness.engine, store=harness.store, clock=harness.clock)
    fires = FireHandler(
        pool=pool, store=harness.store, clock=harness.clock, notifier=harness.notifier
    )
    pool.use(definitions.workflow, {"w": EveryMinute()})
    async with anyio.create_task_group() as tg, harness.clock.autojump():
        pool.bind(tg)
        yield Rig(harness=harness, pool=pool, fires=fires)
        with anyio.fail_after(10):
            await pool.idle()
        tg.cancel_scope.cancel()


async def _seed_fire(r: Rig, instant: datetime) -> None:
    fire = FireRecord(
        workflow="w", scheduled_for=instant, recorded_at=instant, status=FireStatus.STARTED
    )
    assert await r.harness.store.record_fire(fire)
    await r.fires.load()


async def test_three_days_down_gives_one_catchup_run_with_4320_missed(tmp_path: Path) -> None:
    now = T0 + timedelta(days=3, seconds=20)
    with capture_logs() as captured:
        async with rig(tmp_path, now=now) as r:
            await _seed_fire(r, T0)
            await r.fires.catch_up()
    runs = await r.runs()
    assert [(run.trigger, run.scheduled_for, run.state) for run in runs] == [
        (Trigger.CATCHUP, T0 + timedelta(days=3), RunState.SUCCESS)
    ]
    latest = (await r.fire_records())[-1]
    assert (latest.missed_count, latest.run_id) == (4320, runs[0].run_id)
    missed = [e for e in captured if e["event"] == logs.SCHEDULE_MISSED]
    assert len(missed) == 1 and missed[0]["missed"] == 4320
    [event] = r.harness.notifier.of(EventKind.FIRES_MISSED)
    assert event.details["missed_count"] == 4320


async def test_catchup_none_records_missed_and_runs_nothing(tmp_path: Path) -> None:
    async with rig(tmp_path, now=T0 + timedelta(hours=2), catchup="none") as r:
        await _seed_fire(r, T0)
        await r.fires.catch_up()
    assert await r.runs() == []
    latest = (await r.fire_records())[-1]
    assert (latest.status, latest.missed_count) == (FireStatus.MISSED, 120)
    assert latest.scheduled_for == T0 + timedelta(hours=2)


async def test_catchup_all_replays_every_instant_within_max_active_runs(tmp_path: Path) -> None:
    peak = 0
    active = 0

    async def slow(request: Any) -> None:
        nonlocal peak, active
        active += 1
        peak = max(peak, active)
        await anyio.sleep(0.001)  # real time: lets the replay loop see the full slots
        active -= 1

    async with rig(
        tmp_path,
        now=T0 + timedelta(minutes=5, seconds=1),
        catchup="all",
        max_active_runs=2,
        handler=slow,
    ) as r:
        await _seed_fire(r, T0)
        await r.fires.catch_up()
        with anyio.fail_after(10):
            while len([x for x in await r.runs() if x.state.finished]) < 5:
                await anyio.sleep(0.01)
    runs = await r.runs()
    assert [run.scheduled_for for run in runs] == [T0 + i * MINUTE for i in range(1, 6)]
    assert all(run.trigger is Trigger.CATCHUP for run in runs)
    assert peak <= 2


async def test_a_due_instant_is_recorded_once_then_never_again(tmp_path: Path) -> None:
    instant = T0 + MINUTE
    async with rig(tmp_path, now=instant) as r:
        await _seed_fire(r, T0)
        await r.fires.on_due("w", instant)
        await r.fires.on_due("w", instant)  # a restart / backward jump hands it over again
        await r.fires.on_due("w", T0)
    runs = await r.runs()
    assert [(run.trigger, run.scheduled_for) for run in runs] == [(Trigger.SCHEDULE, instant)]
    fires = await r.fire_records()
    assert [f.scheduled_for for f in fires] == [T0, instant]
    assert fires[-1].run_id == runs[0].run_id


async def test_overlap_skip_and_queue(tmp_path: Path) -> None:
    gate = anyio.Event()

    async def held(request: Any) -> None:
        await gate.wait()

    for overlap in ("skip", "queue"):
        gate = anyio.Event()
        with capture_logs() as captured:
            async with rig(tmp_path / overlap, now=T0 + MINUTE, overlap=overlap, handler=held) as r:
                await _seed_fire(r, T0)
                await r.fires.on_due("w", T0 + MINUTE)
                r.harness.clock.advance_to(T0 + 2 * MINUTE)
                await r.fires.on_due("w", T0 + 2 * MINUTE)
                gate.set()
        events = [e["event"] for e in captured]
        statuses = [f.status for f in await r.fire_records()][1:]
        if overlap == "skip":
            assert statuses == [FireStatus.STARTED, FireStatus.SKIPPED]
            assert logs.FIRE_SKIPPED in events and len(await r.runs()) == 1
        else:
            assert statuses == [FireStatus.STARTED, FireStatus.QUEUED]
            assert logs.FIRE_QUEUED in events
            assert [x.state for x in await r.runs()] == [RunState.SUCCESS] * 2


async def test_paused_workflow_records_fires_as_skipped(tmp_path: Path) -> None:
    async with rig(tmp_path, now=T0 + MINUTE) as r:
        await _seed_fire(r, T0)
        await r.pool.set_paused("w", True)
        await r.fires.on_due("w", T0 + MINUTE)
    assert await r.runs() == []
    assert (await r.fire_records())[-1].status is FireStatus.SKIPPED
    assert await r.harness.store.paused() == {"w"}


async def test_manual_trigger_waits_for_the_end(tmp_path: Path) -> None:
    async with rig(tmp_path, now=T0) as r:
        run = await r.pool.trigger("w", params={}, at=T0 + timedelta(hours=1))
        final = await r.pool.wait(run.run_id)
    assert final.state is RunState.SUCCESS and final.trigger is Trigger.MANUAL
    assert final.logical_date == T0 + timedelta(hours=1)
    assert r.harness.clock.now() >= T0 + timedelta(hours=1)  # it waited for --at
    assert await r.fire_records() == []  # manual runs are not schedule fires


async def test_cancel_a_queued_run(tmp_path: Path) -> None:
    gate = anyio.Event()

    async def held(request: Any) -> None:
        await gate.wait()

    async with rig(tmp_path, now=T0, handler=held) as r:
        first = await r.pool.trigger("w", params={})
        second = await r.pool.trigger("w", params={})
        with anyio.fail_after(5):
            while not r.pool.queued():
                await anyio.sleep(0.001)
        assert r.pool.queued() == {"w": [second.run_id]}
        assert r.pool.cancel(second.run_id, "no longer needed")
        assert (await r.pool.wait(second.run_id)).state is RunState.CANCELLED
        gate.set()
        assert (await r.pool.wait(first.run_id)).state is RunState.SUCCESS


async def test_catch_up_of_a_paused_workflow_records_one_skipped_fire(tmp_path: Path) -> None:
    async with rig(tmp_path, now=T0 + timedelta(hours=1), catchup="all") as r:
        await _seed_fire(r, T0)
        await r.pool.set_paused("w", True)
        await r.fires.catch_up()
    assert await r.runs() == []
    latest = (await r.fire_records())[-1]
    assert (latest.status, latest.missed_count) == (FireStatus.SKIPPED, 60)
