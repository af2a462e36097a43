"""Precise fires with real processes: armed before the instant, released at it, killed when
cancelled while armed, never run without a release, and never boosted past the release."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import pytest

from tapri_daemon.daemon.precise import PreciseClock
from tapri_daemon.executors import Dispatcher
from tapri_daemon.executors.command import LAUNCHER
from tapri_daemon.executors.release import NOT_RELEASED, Gate
from tapri_daemon.interfaces import (
    AttemptRequest,
    Outcome,
    ProcessInfo,
    RunInfo,
    Trigger,
)
from tapri_daemon.model import Task

START = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)
RUN = RunInfo(
    run_id="r1", workflow="wf", logical_date=START, data_interval_start=START,
    data_interval_end=START, trigger=Trigger.MANUAL, attempt=1, timezone="UTC",
)  # fmt: skip
LEAD_S = 0.8
RESET_ON_FORK = getattr(os, "SCHED_RESET_ON_FORK", 0x40000000)
PRIORITY = "import os; print([os.sched_getscheduler(0) & ~%d, os.getpriority(os.PRIO_PROCESS, 0)])"
MODULE = """
    import os, time

    IMPORTED_NS = time.time_ns()
    IMPORTED_WITH = [os.sched_getscheduler(0), os.getpriority(os.PRIO_PROCESS, 0)]

    def book_and_mark():
        open("ran", "w").close()

    def book():
        called = time.time_ns()
        policy = os.sched_getscheduler(0) & ~{reset}
        nice = os.getpriority(os.PRIO_PROCESS, 0)
        return {{"imported": IMPORTED_NS, "called": called, "priority": [policy, nice],
                "imported_with": IMPORTED_WITH}}

    async def book_async():
        return time.time_ns()
"""


class Recorder:
    def __init__(self) -> None:
        self.infos: list[ProcessInfo] = []
        self.spawned_event = anyio.Event()

    async def spawned(self, info: ProcessInfo) -> None:
        self.infos.append(info)
        self.spawned_event.set()

    def stopped(self, killed: int) -> None:
        self.killed = killed


def soon(seconds: float = LEAD_S) -> int:
    return time.time_ns() + int(seconds * 1e9)


def command(tmp_path: Path, argv: tuple[str, ...], **fields: Any) -> AttemptRequest:
    return AttemptRequest(
        task_id="book", task=Task(command=list(argv)), run=RUN, attempt=1, argv=argv,
        cwd=str(tmp_path), log_path=str(tmp_path / "logs" / "book.1.log"), **fields,
    )  # fmt: skip


def python(tmp_path: Path, target: str, **fields: Any) -> AttemptRequest:
    return AttemptRequest(
        task_id="book", task=Task(python=target), run=RUN, attempt=1, cwd=str(tmp_path),
        python_path=(str(tmp_path),), log_path=str(tmp_path / "logs" / "book.1.log"), **fields,
    )  # fmt: skip


@pytest.fixture(params=[None, 0], ids=["direct", "relayed"])
async def dispatcher(request: pytest.FixtureRequest) -> Any:
    """Each test with the daemon reading the pipes, and with a relay reading them."""
    async with Dispatcher(clock=PreciseClock(realtime=False), direct_pipes=request.param) as d:
        yield d


@pytest.fixture
def module(tmp_path: Path) -> str:
    name = f"armed_{uuid.uuid4().hex[:10]}"
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(MODULE.format(reset=RESET_ON_FORK)))
    return name


def gone(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat[stat.rfind(")") + 2] in "ZX"


def group_gone(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    return False


def plain_priority() -> list[int]:
    """What a plain spawn gets: SCHED_OTHER and this process's nice."""
    return [os.SCHED_OTHER, os.getpriority(os.PRIO_PROCESS, 0)]


async def test_a_command_is_spawned_early_and_becomes_the_task_at_the_instant(
    dispatcher: Dispatcher, tmp_path: Path
) -> None:
    script = "echo $$ > pid; ls /proc/$$/fd > fds; printf '%s\\n' $TAPRI_FIRE_AT_NS; date +%s%N"
    fire_at = soon()
    recorder = Recorder()
    request = command(tmp_path, ("/bin/sh", "-c", script), fire_at_ns=fire_at)
    result = await dispatcher.execute(request, recorder)
    assert result.outcome is Outcome.SUCCESS, result.error
    [info] = recorder.infos
    assert info.spawned_ns < fire_at <= result.released_ns == result.started_ns  # type: ignore[operator]
    assert fire_at <= result.output  # date ran after the instant (never early)
    assert int((tmp_path / "pid").read_text()) == info.pid == info.pgid  # same process
    assert (tmp_path / "logs" / "book.1.log").read_text().splitlines()[0] == str(fire_at)
    armed_fds = (tmp_path / "fds").read_text()
    plain = await dispatcher.execute(command(tmp_path, ("/bin/sh", "-c", script)), Recorder())
    assert plain.outcome is Outcome.SUCCESS
    assert armed_fds == (tmp_path / "fds").read_text()  # no pipe of the gate leaked in


async def test_the_boost_never_reaches_the_task(dispatcher: Dispatcher, tmp_path: Path) -> None:
    request = command(tmp_path, (sys.executable, "-c", PRIORITY % RESET_ON_FORK), fire_at_ns=soon())
    result = await dispatcher.execute(request, Recorder())
    assert result.outcome is Outcome.SUCCESS, result.error
    assert result.output == plain_priority()


async def test_an_exec_failure_at_the_release_fails_the_attempt(
    dispatcher: Dispatcher, tmp_path: Path
) -> None:
    fire_at = soon(0.3)
    result = await dispatcher.execute(
        command(tmp_path, ("no-such-tool-xyz",), fire_at_ns=fire_at), Recorder()
    )
    assert result.outcome is Outcome.FAILED and result.exit_code is None
    assert result.error == "cannot start 'no-such-tool-xyz': [Errno 2] No such file or directory"
    assert result.released_ns is not None and result.released_ns >= fire_at


async def test_cancelling_an_armed_command_kills_it_and_runs_nothing(
    dispatcher: Dispatcher, tmp_path: Path
) -> None:
    recorder = Recorder()
    request = command(tmp_path, ("/bin/sh", "-c", "touch ran"), fire_at_ns=soon(60))
    async with anyio.create_task_group() as tg:
        tg.start_soon(dispatcher.execute, request, recorder)
        with anyio.fail_after(10):
            await recorder.spawned_event.wait()
        tg.cancel_scope.cancel()
    [info] = recorder.infos
    assert gone(info.pid) and group_gone(info.pgid)
    assert not (tmp_path / "ran").exists()


async def test_cancelling_an_armed_worker_kills_it_and_calls_nothing(
    dispatcher: Dispatcher, tmp_path: Path, module: str
) -> None:
    recorder = Recorder()
    request = python(tmp_path, f"{module}:book_and_mark", fire_at_ns=soon(60))
    async with anyio.create_task_group() as tg:
        tg.start_soon(dispatcher.execute, request, recorder)
        with anyio.fail_after(10):
            await recorder.spawned_event.wait()
        await anyio.sleep(0.5)  # let it import the module and block (not a timing check)
        tg.cancel_scope.cancel()
    [info] = recorder.infos
    assert gone(info.pid) and group_gone(info.pgid)
    assert not (tmp_path / "ran").exists()


async def test_a_past_instant_starts_at_once(dispatcher: Dispatcher, tmp_path: Path) -> None:
    fire_at = time.time_ns() - 1_000_000_000
    result = await dispatcher.execute(command(tmp_path, ("true",), fire_at_ns=fire_at), Recorder())
    assert result.outcome is Outcome.SUCCESS
    assert result.process is not None and result.released_ns == result.process.spawned_ns


async def test_the_timeout_counts_from_the_release(dispatcher: Dispatcher, tmp_path: Path) -> None:
    request = command(tmp_path, ("sleep", "0.2"), fire_at_ns=soon(2), timeout=1)
    result = await dispatcher.execute(request, Recorder())
    assert result.outcome is Outcome.SUCCESS, result.error


def test_a_closed_release_pipe_runs_nothing(tmp_path: Path) -> None:
    gate = Gate()
    argv = (sys.executable, "-I", "-S", LAUNCHER, *gate.args(soon(60), None))
    child = subprocess.Popen(
        (*argv, "/bin/sh", "-c", "touch ran"), pass_fds=gate.child_fds, cwd=tmp_path
    )
    gate.spawned()
    deadline = time.monotonic() + 10
    while not gate.report().ready and time.monotonic() < deadline:
        time.sleep(0.01)  # real process start-up, not timing
    gate.close()  # the daemon died, or the attempt was cancelled
    assert child.wait(timeout=10) == NOT_RELEASED
    assert not (tmp_path / "ran").exists()


async def test_a_sync_function_is_imported_early_and_called_at_the_instant(
    dispatcher: Dispatcher, tmp_path: Path, module: str
) -> None:
    fire_at = soon()
    recorder = Recorder()
    result = await dispatcher.execute(
        python(tmp_path, f"{module}:book", fire_at_ns=fire_at), recorder
    )
    assert result.outcome is Outcome.SUCCESS, result.error
    out = result.output
    assert result.released_ns is not None
    assert out["imported"] < fire_at <= result.released_ns <= out["called"]
    assert recorder.infos[0].spawned_ns < fire_at
    assert out["priority"] == plain_priority()
    if os.geteuid() == 0:  # allowed to boost: it prepared 10 nice levels better
        policy, nice = plain_priority()
        assert out["imported_with"] == [policy | RESET_ON_FORK, nice - 10]


async def test_a_module_that_cannot_be_imported_fails_before_the_instant(
    dispatcher: Dispatcher, tmp_path: Path
) -> None:
    (tmp_path / "broken_at_import.py").write_text("raise RuntimeError('boom')\ndef f(): pass\n")
    fire_at = soon(30)
    result = await dispatcher.execute(
        python(tmp_path, "broken_at_import:f", fire_at_ns=fire_at), Recorder()
    )
    assert time.time_ns() < fire_at  # it did not wait for the instant
    assert result.outcome is Outcome.FAILED and result.error == "RuntimeError: boom"
    assert result.released_ns is None


async def test_an_async_function_is_entered_at_the_instant(
    dispatcher: Dispatcher, tmp_path: Path, module: str
) -> None:
    fire_at = soon(0.3)
    result = await dispatcher.execute(
        python(tmp_path, f"{module}:book_async", fire_at_ns=fire_at), Recorder()
    )
    assert result.outcome is Outcome.SUCCESS
    assert fire_at <= result.released_ns <= result.output  # type: ignore[operator]
