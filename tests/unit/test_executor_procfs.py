"""/proc parsing and the file-descriptor budget (pure, or reading this test's own process)."""

from __future__ import annotations

import os

from tapri_daemon.executors import procfs, system


def test_stat_parses_a_command_name_with_spaces_and_parentheses() -> None:
    raw = (
        b"4242 (evil) (name) x) S 1 4242 4242 0 -1 4194560 "
        + b"0 " * 10
        + b"7 0 99123 "
        + b"0 " * 20
    )
    stat = procfs.parse_stat(4242, raw)
    assert stat is not None
    assert (stat.state, stat.ppid, stat.pgid, stat.sid) == ("S", 1, 4242, 4242)
    assert (stat.threads, stat.start_time) == (7, 99123)
    assert not stat.zombie
    assert procfs.parse_stat(1, b"garbage") is None


def test_our_own_process_reads_back() -> None:
    me = procfs.read_stat(os.getpid())
    assert me is not None and me.ppid == os.getppid() and me.pgid == os.getpgid(0)
    assert procfs.start_time(os.getpid()) == me.start_time
    assert procfs.env_value(os.getpid(), b"PATH") == os.environb.get(b"PATH")
    assert procfs.env_value(os.getpid(), b"NO_SUCH_VARIABLE_HERE") is None
    assert procfs.read_stat(2**22 + 7) is None


def test_the_process_budget_keeps_a_reserve() -> None:
    assert system.process_slots(1024) == 448
    assert system.process_slots(524288) == (524288 - 64 - 32768) // 2
    assert system.process_slots(10) == 1
