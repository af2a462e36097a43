"""The sql executor against real SQLite files: bound parameters, rows, caps, scripts."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tapri_daemon.executors import Dispatcher
from tapri_daemon.executors.sql import MAX_ROWS, database_path
from tapri_daemon.interfaces import AttemptRequest, AttemptResult, Outcome, RunInfo, Trigger
from tapri_daemon.model import Task
from tapri_daemon.testing import FakeClock, NullObserver

START = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)


def request_for(tmp_path: Path, sql: str, **fields: Any) -> AttemptRequest:
    run = RunInfo(
        run_id="r1", workflow="wf", logical_date=START, data_interval_start=START,
        data_interval_end=START, trigger=Trigger.MANUAL, attempt=1, timezone="UTC",
    )  # fmt: skip
    fields.setdefault("database_url", f"sqlite:///{tmp_path / 'data.db'}")
    return AttemptRequest(
        task_id="q", task=Task(sql=sql), run=run, attempt=1, sql=sql,
        log_path=str(tmp_path / "logs" / "q.1.log"), **fields,
    )  # fmt: skip


@pytest.fixture
async def dispatcher() -> Any:
    async with Dispatcher() as d:
        yield d


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "data.db"
    with sqlite3.connect(path) as conn:
        conn.execute("create table people (name text, city text, photo blob)")
        conn.executemany(
            "insert into people values (?, ?, ?)",
            [("Asha", "Pune", b"\x00\x01"), ("Ravi", "Mumbai", None)],
        )
    return path


async def run(dispatcher: Dispatcher, request: AttemptRequest) -> AttemptResult:
    return await dispatcher.execute(request, NullObserver())


async def test_rows_come_back_as_objects_with_bound_parameters(
    dispatcher: Dispatcher, tmp_path: Path, db: Path
) -> None:
    sql = "select name, city, photo from people where city = :city"
    result = await run(dispatcher, request_for(tmp_path, sql, sql_params={"city": "Pune"}))
    assert result.outcome is Outcome.SUCCESS
    assert result.output == [{"name": "Asha", "city": "Pune", "photo": "AAE="}]


async def test_an_injection_attempt_stays_data(
    dispatcher: Dispatcher, tmp_path: Path, db: Path
) -> None:
    hostile = "x'; drop table people; --"
    sql = "insert into people (name, city) values (:name, 'Delhi') returning name"
    result = await run(dispatcher, request_for(tmp_path, sql, sql_params={"name": hostile}))
    assert result.outcome is Outcome.SUCCESS
    assert result.output == [{"name": hostile}]
    with sqlite3.connect(db) as conn:
        names = [row[0] for row in conn.execute("select name from people order by rowid")]
    assert names == ["Asha", "Ravi", hostile]


async def test_statements_without_rows_report_changes_and_commit(
    dispatcher: Dispatcher, tmp_path: Path, db: Path
) -> None:
    sql = "update people set city = :city"
    result = await run(dispatcher, request_for(tmp_path, sql, sql_params={"city": "Nashik"}))
    assert result.output == {"changes": 2}
    with sqlite3.connect(db) as conn:
        assert {row[0] for row in conn.execute("select city from people")} == {"Nashik"}


async def test_a_script_without_parameters_runs_every_statement(
    dispatcher: Dispatcher, tmp_path: Path, db: Path
) -> None:
    script = "insert into people (name) values ('A'); insert into people (name) values ('B');"
    result = await run(dispatcher, request_for(tmp_path, script))
    assert (result.outcome, result.output) == (Outcome.SUCCESS, {"changes": 2})
    with_params = await run(dispatcher, request_for(tmp_path, script, sql_params={"x": 1}))
    assert with_params.outcome is Outcome.FAILED
    assert "one statement at a time" in (with_params.error or "")


async def test_too_many_rows_and_too_many_bytes_fail(
    dispatcher: Dispatcher, tmp_path: Path, db: Path
) -> None:
    many = f"with recursive n(i) as (select 1 union all select i + 1 from n where i < {MAX_ROWS + 1}) select i from n"  # noqa: E501
    result = await run(dispatcher, request_for(tmp_path, many))
    assert result.outcome is Outcome.FAILED
    assert f"more than {MAX_ROWS} rows" in (result.error or "")
    big = "select name, city from people"
    small_limit = await run(dispatcher, request_for(tmp_path, big, output_limit=20))
    assert small_limit.outcome is Outcome.FAILED
    assert "over the output limit of 20 bytes" in (small_limit.error or "")


async def test_sql_errors_and_other_databases_fail_clearly(
    dispatcher: Dispatcher, tmp_path: Path, db: Path
) -> None:
    broken = await run(dispatcher, request_for(tmp_path, "select nope from people"))
    assert broken.outcome is Outcome.FAILED
    assert broken.error == "OperationalError: no such column: nope"
    pg = await run(dispatcher, request_for(tmp_path, "select 1", database_url="postgresql://h/db"))
    assert pg.outcome is Outcome.FAILED
    assert pg.error == "database URL scheme 'postgresql' is not supported (only sqlite)"


async def test_a_long_query_times_out_and_is_interrupted(
    dispatcher: Dispatcher, tmp_path: Path
) -> None:
    endless = (
        "with recursive n(i) as (select 1 union all select i + 1 from n) select count(*) from n"
    )
    result = await run(dispatcher, request_for(tmp_path, endless, timeout=0.3))
    assert result.outcome is Outcome.TIMEOUT
    assert (result.ended_ns - result.started_ns) / 1e9 < 5


def test_database_urls() -> None:
    assert database_path("sqlite:////abs/x.db", "/cwd") == "/abs/x.db"
    assert database_path("sqlite:///rel/x.db", "/cwd") == "/cwd/rel/x.db"
    assert database_path("rel.db", None) == "rel.db"
    assert database_path("sqlite:///:memory:", "/cwd") == ":memory:"


async def test_a_precise_statement_runs_at_the_instant(tmp_path: Path, db: Path) -> None:
    clock = FakeClock(START)
    fire_ns = clock.time_ns() + 5_000_000_000
    request = request_for(tmp_path, "select count(*) as n from people", fire_at_ns=fire_ns)
    async with Dispatcher(clock=clock) as dispatcher, clock.autojump():
        result = await dispatcher.execute(request, NullObserver())
    assert (result.outcome, result.output) == (Outcome.SUCCESS, [{"n": 2}])
    assert clock.waits == [START + timedelta(seconds=5)]
    assert result.released_ns is not None and result.released_ns == result.started_ns
