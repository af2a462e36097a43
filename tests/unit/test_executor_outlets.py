"""Who reads an attempt's pipes: the daemon within its budget, then relays, then a wait."""

from __future__ import annotations

import errno

import anyio
import pytest
from anyio.lowlevel import checkpoint

from tapri_daemon.executors.outlets import Outlets, per_relay


def test_a_relay_holds_what_its_inherited_limit_allows() -> None:
    assert per_relay(1024) == 496
    assert per_relay(65536) == 32752
    assert per_relay(10) == 1


async def test_direct_first_then_a_wait_when_nothing_else_is_allowed() -> None:
    outlets = Outlets(direct=1, per_relay=1, max_relays=0)
    order: list[str] = []

    async def second() -> None:
        async with outlets.outlet() as outlet:
            order.append(f"second {outlet.link}")

    async with anyio.create_task_group() as group, outlets.outlet() as outlet:
        assert outlet.link is None and outlets.busy == 1
        group.start_soon(second)
        await anyio.wait_all_tasks_blocked()
        order.append("first")
    assert order == ["first", "second None"]
    assert outlets.busy == 0


async def test_no_outlet_at_all_is_an_error_not_a_hang() -> None:
    outlets = Outlets(direct=0, per_relay=1, max_relays=0)
    with pytest.raises(OSError) as caught:
        async with outlets.outlet():
            await checkpoint()
    assert caught.value.errno == errno.EMFILE


async def test_relays_fill_one_by_one_and_stop_with_the_outlets() -> None:
    outlets = Outlets(direct=0, per_relay=2, max_relays=2)
    async with outlets.outlet() as a, outlets.outlet() as b, outlets.outlet() as c:
        assert a.link is b.link and a.link is not None and c.link is not a.link
        assert [link.used for link in outlets.links] == [2, 1]
    assert [link.used for link in outlets.links] == [0, 0]
    links = list(outlets.links)
    outlets.close()
    assert outlets.links == [] and all(not link.alive for link in links)
