"""Slots: first come first served, resizable, and nothing leaks when a waiter is cancelled."""

from __future__ import annotations

import anyio

from tapri_daemon.engine.limits import Pools, Slots, acquire_all, release_all
from tapri_daemon.model import Pool


async def test_waiters_are_served_in_order_and_resizing_wakes_them() -> None:
    slots = Slots(1)
    order: list[int] = []

    async def take(n: int) -> None:
        await slots.acquire()
        order.append(n)

    await slots.acquire()
    async with anyio.create_task_group() as tg:
        for n in range(3):
            tg.start_soon(take, n)
        await anyio.wait_all_tasks_blocked()
        assert slots.waiting == 3
        slots.release()
        await anyio.wait_all_tasks_blocked()
        assert order == [0]
        slots.total = 3
    assert order == [0, 1, 2]
    assert slots.in_use == 3


async def test_a_cancelled_waiter_leaves_no_slot_behind() -> None:
    slots = Slots(1)
    await slots.acquire()
    with anyio.move_on_after(0.01):
        await slots.acquire()
    assert (slots.in_use, slots.waiting) == (1, 0)
    slots.release()
    assert slots.try_acquire()


async def test_acquire_all_gives_back_what_it_took_when_cancelled() -> None:
    pool, workflow, engine = Slots(1), Slots(0), Slots(5)
    with anyio.move_on_after(0.01):
        await acquire_all([pool, workflow, engine])
    assert (pool.in_use, workflow.in_use, engine.in_use) == (0, 0, 0)
    workflow.total = 1
    await acquire_all([pool, workflow, engine])
    assert (pool.in_use, workflow.in_use, engine.in_use) == (1, 1, 1)
    release_all([pool, workflow, engine])
    assert (pool.in_use, workflow.in_use, engine.in_use) == (0, 0, 0)


def test_pools_resize_in_place() -> None:
    pools = Pools()
    pools.update({"gw": Pool(slots=2)})
    first = pools.get("gw")
    pools.update({"gw": Pool(slots=5)})
    assert pools.get("gw") is first and first is not None and first.total == 5
    assert pools.get(None) is None and pools.get("nope") is None
