"""command / shell attempts with real processes: groups, escapees, logs, output, limits."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import pytest
from structlog.testing import capture_logs

from tapri_daemon import logs
from tapri_daemon.executors import Dispatcher
from tapri_daemon.interfaces import (
    AttemptRequest,
    AttemptResult,
    Outcome,
    ProcessInfo,
    RunInfo,
    Trigger,
)
from tapri_daemon.model import Task

START = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)
RUN = RunInfo(
    run_id="wf__20260105T093000Z_abc123", workflow="wf", logical_date=START,
    data_interval_start=START, data_interval_end=START, trigger=Trigger.MANUAL, attempt=2,
    timezone="UTC",
)  # fmt: skip


class Recorder:
    def __init__(self) -> None:
        self.infos: list[ProcessInfo] = []
        self.started = anyio.Event()
        self.killed: int | None = None

    async def spawned(self, info: ProcessInfo) -> None:
        self.infos.append(info)
        self.started.set()

    def stopped(self, killed: int) -> None:
        self.killed = killed


def shell(tmp_path: Path, script: str, **fields: Any) -> AttemptRequest:
    return AttemptRequest(
        task_id="t", task=Task(shell=script), run=RUN, attempt=2,
        argv=("/bin/sh", "-c", script), log_path=str(tmp_path / "logs" / "t.2.log"), **fields,
    )  # fmt: skip


@pytest.fixture(params=[None, 0], ids=["direct", "relayed"])
async def dispatcher(request: pytest.FixtureRequest) -> Any:
    """Every test twice: the daemon reading the pipes itself, and a relay process reading
    them (as beyond the open-file budget)."""
    async with Dispatcher(direct_pipes=request.param) as d:
        yield d


async def run(
    dispatcher: Dispatcher, request: AttemptRequest, recorder: Recorder | None = None
) -> AttemptResult:
    return await dispatcher.execute(request, recorder or Recorder())


def alive(pid: int) -> bool:
    """True while the process exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2] not in "ZX"


def log_of(tmp_path: Path) -> bytes:
    return (tmp_path / "logs" / "t.2.log").read_bytes()


def pids_in(path: Path) -> list[int]:
    return [int(word) for word in path.read_text().split()]


async def test_environment_is_clean_and_carries_the_attempt(
    dispatcher: Dispatcher, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DAEMON_ONLY_SECRET", "leak")
    script = "env | sort > env.txt; pwd > cwd.txt; echo done"
    request = shell(tmp_path, script, env={"MINE": "1"}, cwd=str(tmp_path), fire_at_ns=123)
    result = await run(dispatcher, request)
    assert (result.outcome, result.output, result.exit_code) == (Outcome.SUCCESS, "done", 0)
    env = dict(line.split("=", 1) for line in (tmp_path / "env.txt").read_text().splitlines())
    assert "DAEMON_ONLY_SECRET" not in env
    assert env["MINE"] == "1" and env["TAPRI_WORKFLOW"] == "wf"
    assert env["TAPRI_RUN_ID"] == RUN.run_id and env["TAPRI_TASK_ID"] == "t"
    assert env["TAPRI_ATTEMPT"] == "2" and env["TAPRI_LOGICAL_DATE"] == START.isoformat()
    assert env["TAPRI_FIRE_AT_NS"] == "123" and env["TAPRI_OUTPUT"].endswith(".json")
    allowed = {"PATH", "HOME", "LANG", "LC_ALL", "TZ", "USER", "LOGNAME", "SHELL", "MINE", "PWD"}
    assert {k for k in env if not k.startswith("TAPRI_")} <= allowed | {"SHLVL", "_"}
    assert (tmp_path / "cwd.txt").read_text().strip() == str(tmp_path)


async def test_the_process_is_reported_as_soon_as_it_exists(
    dispatcher: Dispatcher, tmp_path: Path
) -> None:
    recorder = Recorder()
    result = await run(dispatcher, shell(tmp_path, "echo $$ > pid; ps -o pgid= -p $$ > pgid",
                                          cwd=str(tmp_path)), recorder)  # fmt: skip
    (info,) = recorder.infos
    assert result.process == info
    assert info.pid == info.pgid == int((tmp_path / "pid").read_text())
    assert int((tmp_path / "pgid").read_text()) == info.pgid
    assert info.start_time is not None and info.start_time > 0
    assert abs(info.spawned_ns - time.time_ns()) < 60e9


async def test_cat_gets_eof_at_once(dispatcher: Dispatcher, tmp_path: Path) -> None:
    request = AttemptRequest(
        task_id="t", task=Task(command=("cat",)), run=RUN, attempt=2, argv=("cat",),
        log_path=str(tmp_path / "logs" / "t.2.log"), timeout=10,
    )  # fmt: skip
    result = await run(dispatcher, request)
    assert (result.outcome, result.output) == (Outcome.SUCCESS, None)


async def test_exit_codes_and_signals(dispatcher: Dispatcher, tmp_path: Path) -> None:
    failed = await run(dispatcher, shell(tmp_path, "echo partial; exit 3"))
    assert (failed.outcome, failed.exit_code, failed.error) == (
        Outcome.FAILED, 3, "exited with code 3",
    )  # fmt: skip
    assert failed.output is None
    killed = await run(dispatcher, shell(tmp_path, "kill -KILL $$"))
    assert (killed.exit_code, killed.error) == (-9, "killed by signal SIGKILL")
    missing = await run(
        dispatcher,
        AttemptRequest(task_id="t", task=Task(command=("nope-no-such-binary",)), run=RUN,
                       attempt=2, argv=("nope-no-such-binary",),
                       log_path=str(tmp_path / "logs" / "t.2.log")),
    )  # fmt: skip
    assert missing.outcome is Outcome.FAILED
    assert (missing.error or "").startswith("cannot start 'nope-no-such-binary'")


async def test_output_from_tapri_output_file_and_last_line(
    dispatcher: Dispatcher, tmp_path: Path
) -> None:
    from_file = await run(dispatcher, shell(tmp_path,
        'echo \'{"rows": 3}\' > "$TAPRI_OUTPUT"; echo ignored'))  # fmt: skip
    assert from_file.output == {"rows": 3}
    text = await run(dispatcher, shell(tmp_path, "echo first; echo '  last words  '; echo >&2 e"))
    assert text.output == "last words"
    number = await run(dispatcher, shell(tmp_path, "echo 42; echo"))
    assert number.output == 42


async def test_non_json_tapri_output_fails(dispatcher: Dispatcher, tmp_path: Path) -> None:
    result = await run(dispatcher, shell(tmp_path, 'echo "rows=3" > "$TAPRI_OUTPUT"'))
    assert result.outcome is Outcome.FAILED and result.exit_code == 0
    assert (result.error or "").startswith("$TAPRI_OUTPUT is not JSON")


async def test_output_over_the_limit_fails(dispatcher: Dispatcher, tmp_path: Path) -> None:
    line = await run(dispatcher, shell(tmp_path, "head -c 3000 /dev/zero | tr '\\0' x; echo",
                                       output_limit=1000))  # fmt: skip
    assert line.outcome is Outcome.FAILED
    assert line.error == "the last stdout line is over the output limit of 1000 bytes"
    script = """printf '"%s"' "$(head -c 3000 /dev/zero | tr '\\0' x)" > "$TAPRI_OUTPUT" """
    document = await run(dispatcher, shell(tmp_path, script, output_limit=1000))
    assert document.outcome is Outcome.FAILED
    assert document.error == "$TAPRI_OUTPUT is 1001 bytes, over the output limit of 1000 bytes"


async def test_secrets_are_masked_in_the_log_and_the_output(
    dispatcher: Dispatcher, tmp_path: Path
) -> None:
    request = shell(tmp_path, 'echo "pw=$PW" >&2; printf "x%.0s" $(seq 70000); echo; echo "$PW ok"',
                    env={"PW": "hunter2-secret"}, secrets=("hunter2-secret",))  # fmt: skip
    result = await run(dispatcher, request)
    assert result.output == "*** ok"
    log = log_of(tmp_path)
    assert b"hunter2" not in log
    assert b"pw=***" in log and b"*** ok" in log


async def test_timeout_kills_the_whole_group_including_a_setsid_grandchild(
    dispatcher: Dispatcher, tmp_path: Path
) -> None:
    script = """
        setsid sh -c 'echo $$ >> pids; exec sleep 300' &
        sh -c 'echo $$ >> pids; exec sleep 300' &
        echo $$ >> pids
        sleep 300
    """
    request = shell(tmp_path, script, cwd=str(tmp_path), timeout=0.5, kill_grace=5)
    with capture_logs() as events:
        result = await run(dispatcher, request)
    assert result.outcome is Outcome.TIMEOUT
    assert result.error == "timed out after 0.5 s"
    pids = pids_in(tmp_path / "pids")
    assert len(pids) == 3
    assert not [pid for pid in pids if alive(pid)]
    assert result.killed == 4  # the shell, its sleep, the two children
    (killed,) = [e for e in events if e["event"] == logs.TASK_KILLED]
    assert killed["reason"] == "timeout" and killed["survivors"] == []
    assert b"[tapri] timed out after 0.5 s" in log_of(tmp_path)


async def test_a_term_ignoring_task_is_killed_after_the_grace(
    dispatcher: Dispatcher, tmp_path: Path
) -> None:
    request = shell(tmp_path, "trap '' TERM; echo $$ > pid; sleep 30", cwd=str(tmp_path),
                    timeout=0.3, kill_grace=1.0)  # fmt: skip
    began = time.monotonic()
    result = await run(dispatcher, request)
    elapsed = time.monotonic() - began
    assert result.outcome is Outcome.TIMEOUT
    assert 1.2 <= elapsed < 5, elapsed
    assert result.killed == 2
    assert not alive(pids_in(tmp_path / "pid")[0])


async def test_cancelling_the_caller_stops_the_group_and_propagates(
    dispatcher: Dispatcher, tmp_path: Path
) -> None:
    script = (
        "setsid sleep 300 & echo $! >> pids; sleep 300 & echo $! >> pids; echo $$ >> pids; wait"
    )
    recorder = Recorder()
    finished: list[AttemptResult] = []

    async def attempt() -> None:
        finished.append(await run(dispatcher, shell(tmp_path, script, cwd=str(tmp_path)),
                                  recorder))  # fmt: skip

    with capture_logs() as events:
        async with anyio.create_task_group() as group:
            group.start_soon(attempt)
            await recorder.started.wait()
            while not (tmp_path / "pids").exists() or len(pids_in(tmp_path / "pids")) < 3:
                await anyio.sleep(0.01)  # all three exist: the shell, its child, the escapee
            group.cancel_scope.cancel()
    assert finished == []
    assert not [pid for pid in pids_in(tmp_path / "pids") if alive(pid)]
    (killed,) = [e for e in events if e["event"] == logs.TASK_KILLED]
    assert killed["reason"] == "cancelled" and killed["killed"] == 3
    assert recorder.killed == 3  # what the engine records in the attempt's row


async def test_a_leftover_holding_stdout_neither_hangs_nor_survives(
    dispatcher: Dispatcher, tmp_path: Path
) -> None:
    began = time.monotonic()
    result = await run(dispatcher, shell(tmp_path, "sleep 300 & echo $! > pid; echo done",
                                         cwd=str(tmp_path)))  # fmt: skip
    assert time.monotonic() - began < 5
    assert (result.outcome, result.output, result.killed) == (Outcome.SUCCESS, "done", 1)
    assert not alive(pids_in(tmp_path / "pid")[0])


async def test_a_daemonised_leftover_is_found_and_stopped(
    dispatcher: Dispatcher, tmp_path: Path
) -> None:
    script = (
        "(setsid sh -c 'echo $$ > pid.tmp; mv pid.tmp pid; exec sleep 300' > /dev/null 2>&1 &);"
        " while [ ! -s pid ]; do sleep 0.01; done"
    )
    result = await run(dispatcher, shell(tmp_path, script, cwd=str(tmp_path)))
    assert result.outcome is Outcome.SUCCESS and result.killed == 1
    assert not alive(pids_in(tmp_path / "pid")[0])


def status_kib(field: str = "VmRSS", pid: int | str = "self") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field}")


async def test_big_output_is_capped_with_head_tail_and_flat_memory(
    dispatcher: Dispatcher, tmp_path: Path
) -> None:
    size = 6 * 33_333_333  # whole "tapri\n" lines, ~200 MB
    limit = 1 << 20
    await run(dispatcher, shell(tmp_path, "yes | head -c 1000000 > /dev/null"))  # warm up
    before = status_kib()
    result = await run(dispatcher, shell(tmp_path, f"yes tapri | head -c {size}; echo final",
                                         log_limit=limit))  # fmt: skip
    growth_mib = (status_kib() - before) / 1024
    relays = [status_kib("VmHWM", link.pid) for link in dispatcher.hub.outlets.links]
    assert (result.outcome, result.output) == (Outcome.SUCCESS, "final")
    log = log_of(tmp_path)
    assert len(log) <= limit
    head = limit // 2
    tail = limit - head - 128
    assert log.startswith(b"tapri\n" * 100)
    assert log.endswith(b"tapri\nfinal\n")
    marker = b"\n[tapri: %d bytes dropped]\n" % (size + len(b"final\n") - head - tail)
    assert log[head : head + len(marker)] == marker
    assert growth_mib < 40, growth_mib
    assert all(kib < 40 * 1024 for kib in relays), relays  # a relay's peak stays flat too


async def test_hostile_bytes_never_break_anything(dispatcher: Dispatcher, tmp_path: Path) -> None:
    script = (
        "printf 'nul\\000in\\377\\376 utf8 \\033[31mred\\033]0;title\\007\\n' >&2; "
        "head -c 10000000 /dev/zero | tr '\\0' 'q'; "
        "printf '\\n\\033[2J\\000\\377last\\n'"
    )
    result = await run(dispatcher, shell(tmp_path, script))
    assert result.outcome is Outcome.SUCCESS
    assert result.output == "\x1b[2J\x00\ufffdlast"
    encoded = json.dumps(dataclasses.asdict(result), ensure_ascii=False).encode()
    assert json.loads(encoded)["output"] == result.output
    assert b"\x00in\xff\xfe utf8 \x1b[31mred" in log_of(tmp_path)
    long_last = await run(dispatcher, shell(tmp_path, "head -c 10000000 /dev/zero | tr '\\0' q"))
    assert long_last.outcome is Outcome.FAILED
    assert "over the output limit" in (long_last.error or "")


THOUSAND = textwrap.dedent(
    """
    import asyncio, resource, sys
    from datetime import UTC, datetime
    resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1024))
    from tapri_daemon.executors import Dispatcher
    from tapri_daemon.interfaces import AttemptRequest, RunInfo, Trigger
    from tapri_daemon.model import Task

    now = datetime(2026, 1, 5, tzinfo=UTC)
    run = RunInfo(run_id="r", workflow="wf", logical_date=now, data_interval_start=now,
                  data_interval_end=now, trigger=Trigger.MANUAL, attempt=1, timezone="UTC")
    live = peak = 0

    class Observer:
        async def spawned(self, info):
            global live, peak
            live += 1
            peak = max(peak, live)

        def stopped(self, killed):
            pass

    async def one(dispatcher, i):
        global live
        request = AttemptRequest(task_id=f"t{i}", task=Task(command=("sleep", "2")), run=run,
                                 attempt=1, argv=("sleep", "2"),
                                 log_path=f"{sys.argv[1]}/t{i}.1.log")
        result = await dispatcher.execute(request, Observer())
        live -= 1
        return result

    async def main():
        async with Dispatcher() as dispatcher:
            results = await asyncio.gather(*(one(dispatcher, i) for i in range(1000)))
        bad = [r for r in results if r.outcome != "success"]
        print(len(results), len(bad), peak, bad[:1])

    asyncio.run(main())
    """
)


@pytest.mark.slow
def test_a_thousand_sleeping_tasks_under_ulimit_1024(tmp_path: Path) -> None:
    script = tmp_path / "thousand.py"
    script.write_text(THOUSAND)
    done = subprocess.run(
        [sys.executable, str(script), str(tmp_path)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert "Too many open files" not in done.stdout + done.stderr
    assert done.returncode == 0, done.stderr
    total, bad, peak, _ = done.stdout.splitlines()[-1].split(maxsplit=3)
    assert (int(total), int(bad), int(peak)) == (1000, 0, 1000), done.stdout
    assert done.stdout.count("relay.started") == 2, done.stdout  # 448 direct, 552 relayed
    assert os.listdir(tmp_path) == ["thousand.py"]  # silent tasks leave no log file


async def test_relayed_attempts_leave_no_descriptor_in_the_daemon(tmp_path: Path) -> None:
    before = len(os.listdir("/proc/self/fd"))
    async with Dispatcher(direct_pipes=0) as dispatcher:
        recorders = [Recorder() for _ in range(20)]
        async with anyio.create_task_group() as group:
            for i, recorder in enumerate(recorders):
                request = dataclasses.replace(shell(tmp_path, "echo hi; sleep 1"), task_id=f"t{i}")
                group.start_soon(run, dispatcher, request, recorder)
            for recorder in recorders:
                await recorder.started.wait()
            held = len(os.listdir("/proc/self/fd")) - before
            (link,) = dispatcher.hub.outlets.links
            assert link.used == 20
    assert held <= 2, held  # the relay's socket, not 40 pipe ends
    assert dispatcher.hub.outlets.links == [] and not alive(link.pid)


async def test_a_relay_that_dies_ends_its_attempts_and_a_new_one_takes_over(
    tmp_path: Path,
) -> None:
    async with Dispatcher(direct_pipes=0) as dispatcher:
        recorder = Recorder()
        script = "echo before; while [ ! -e go ]; do sleep 0.01; done; echo after; echo gone >&2"
        with capture_logs() as events:
            async with anyio.create_task_group() as group:
                results: list[AttemptResult] = []

                async def attempt() -> None:
                    request = shell(tmp_path, script, cwd=str(tmp_path))
                    results.append(await run(dispatcher, request, recorder))

                group.start_soon(attempt)
                await recorder.started.wait()
                (link,) = dispatcher.hub.outlets.links
                while b"before" not in (log_of(tmp_path) if (tmp_path / "logs").exists() else b""):
                    await anyio.sleep(0.01)
                os.kill(link.pid, 9)
                while link.alive:
                    await anyio.sleep(0.01)
                (tmp_path / "go").touch()
        (result,) = results
        assert result.outcome is Outcome.FAILED and result.exit_code == -13  # SIGPIPE
        assert log_of(tmp_path).startswith(b"before\n")
        (lost,) = [e for e in events if e["event"] == logs.RELAY_LOST]
        assert lost["pid"] == link.pid and lost["streams"] == 2
        assert lost["error"] == "the relay exited (killed by signal 9)"
        again = await run(dispatcher, shell(tmp_path, "echo again"))
        assert (again.outcome, again.output) == (Outcome.SUCCESS, "again")
        (fresh,) = dispatcher.hub.outlets.links
        assert fresh is not link and fresh.alive


async def test_a_relay_error_is_reported_by_the_daemon_not_printed(tmp_path: Path) -> None:
    async with Dispatcher(direct_pipes=0) as dispatcher:
        await run(dispatcher, shell(tmp_path, "true"))
        (link,) = dispatcher.hub.outlets.links
        with capture_logs() as events:
            await link._send(b"C\x01")  # not a whole stream id: the relay fails on it
            while link.alive:
                await anyio.sleep(0.01)
    (lost,) = [e for e in events if e["event"] == logs.RELAY_LOST]
    assert lost["error"].startswith("error: ") and lost["streams"] == 0, lost
