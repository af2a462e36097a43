"""What only the SQLite store has: files, modes, migrations, group commit, read-only use."""

from __future__ import annotations

import asyncio
import sqlite3
import stat
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiosqlite
import pytest

from tapri_daemon.errors import StoreError
from tapri_daemon.interfaces import (
    AttemptRecord,
    FireRecord,
    FireStatus,
    RunRecord,
    RunState,
    TaskRecord,
    TaskState,
    Trigger,
)
from tapri_daemon.store import schema, writer
from tapri_daemon.store.sqlite import SQLiteStore

T0 = datetime(2025, 3, 10, 4, 30, tzinfo=UTC)


def run(run_id: str, state: RunState = RunState.RUNNING) -> RunRecord:
    return RunRecord(
        run_id=run_id,
        workflow="wf",
        logical_date=T0,
        trigger=Trigger.MANUAL,
        state=state,
        queued_at=T0,
    )


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_files_are_private(tmp_path: Path) -> None:
    db = tmp_path / "deep" / "state" / "tapri.db"
    async with SQLiteStore.open(db) as store:
        await store.save_run(run("r1"))
        assert mode(db.parent) == 0o750
        for name in ("tapri.db", "tapri.db-wal", "tapri.db-shm"):
            assert mode(db.parent / name) == 0o600, name
    assert mode(db) == 0o600


async def test_existing_file_is_tightened(tmp_path: Path) -> None:
    db = tmp_path / "tapri.db"
    db.touch(mode=0o644)
    db.chmod(0o644)
    async with SQLiteStore.open(db):
        pass
    assert mode(db) == 0o600


async def test_wal_and_pragmas(tmp_path: Path) -> None:
    db = tmp_path / "tapri.db"
    async with SQLiteStore.open(db):
        with sqlite3.connect(db) as conn:
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            assert conn.execute("PRAGMA user_version").fetchone()[0] == schema.CURRENT


async def test_migrates_from_empty_and_from_v1(tmp_path: Path) -> None:
    db = tmp_path / "tapri.db"
    async with aiosqlite.connect(db, isolation_level=None) as conn:
        assert await schema.migrate(conn, str(db), target=1) == 0
        await conn.execute(
            "INSERT INTO runs (run_id, workflow, logical_date, trigger, state, queued_at) "
            "VALUES ('old', 'wf', 0, 'manual', 'success', 0)"
        )
        assert await schema.user_version(conn) == 1
    async with SQLiteStore.open(db) as store:
        kept = await store.get_run("old")
        assert kept is not None and kept.state is RunState.SUCCESS
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == schema.CURRENT
        indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    assert {"runs_by_queued", "runs_by_workflow", "attempts_running"} <= indexes


async def test_newer_schema_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "tapri.db"
    with sqlite3.connect(db) as conn:
        conn.execute(f"PRAGMA user_version = {schema.CURRENT + 1}")
    for readonly in (False, True):
        with pytest.raises(StoreError, match="newer than this tapri knows"):
            await SQLiteStore.connect(db, readonly=readonly)


async def test_not_a_database(tmp_path: Path) -> None:
    db = tmp_path / "tapri.db"
    db.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(StoreError, match="not a database"):
        await SQLiteStore.connect(db)


async def test_readonly_refuses_writes_and_missing_files(tmp_path: Path) -> None:
    db = tmp_path / "tapri.db"
    with pytest.raises(StoreError, match="no store here"):
        await SQLiteStore.connect(db, readonly=True)
    assert not db.exists()
    async with SQLiteStore.open(db) as writer:
        await writer.save_run(run("r1"))
        async with SQLiteStore.open(db, readonly=True) as reader:
            assert reader.readonly
            assert [r.run_id for r in await reader.list_runs()] == ["r1"]
            with pytest.raises(StoreError, match="read-only"):
                await reader.save_run(run("r2"))
            await writer.save_run(run("r3"))
            assert {r.run_id for r in await reader.list_runs()} == {"r1", "r3"}


async def test_group_commit_batches_and_everything_is_durable(tmp_path: Path) -> None:
    db = tmp_path / "tapri.db"
    n = 600
    async with SQLiteStore.open(db) as store:

        async def one(i: int) -> None:
            await store.save_run(run(f"r{i}"))
            task = TaskRecord(run_id=f"r{i}", task_id="t", state=TaskState.SUCCESS, output=i)
            await store.save_task(task)
            await store.save_attempt(
                AttemptRecord(run_id=f"r{i}", task_id="t", attempt=1, outcome=None, started_at=T0)
            )
            # Committed when the await returns: another connection already sees it.
            with sqlite3.connect(db) as other:
                got = other.execute("SELECT value FROM outputs WHERE run_id = ?", (f"r{i}",))
                assert got.fetchone() == (str(i),)

        await asyncio.gather(*(one(i) for i in range(n)))
        stats = store.writer_stats()
    assert stats.writes == 3 * n
    assert stats.commits < stats.writes / 10
    assert stats.largest_batch >= 100
    async with SQLiteStore.open(db, readonly=True) as again:
        assert len(await again.list_runs(limit=10_000)) == n
        assert [t.output for t in await again.get_tasks("r599")] == [599]
        assert len(await again.running_attempts()) == n


async def test_a_bad_write_fails_alone(tmp_path: Path) -> None:
    async with SQLiteStore.open(tmp_path / "tapri.db") as store:
        too_big = AttemptRecord(
            run_id="r", task_id="t", attempt=1, outcome=None, started_at=T0, pid=1 << 70
        )
        results = await asyncio.gather(
            store.save_run(run("ok1")),
            store.save_attempt(too_big),
            store.save_run(run("ok2")),
            return_exceptions=True,
        )
        assert results[0] is None and results[2] is None
        assert isinstance(results[1], StoreError)
        assert {r.run_id for r in await store.list_runs()} == {"ok1", "ok2"}


async def test_concurrent_fires_one_winner(tmp_path: Path) -> None:
    async with SQLiteStore.open(tmp_path / "tapri.db") as store:
        fires = [
            FireRecord(workflow="wf", scheduled_for=T0, recorded_at=T0, status=FireStatus.STARTED)
            for _ in range(20)
        ]
        won = await asyncio.gather(*(store.record_fire(f) for f in fires))
        assert won.count(True) == 1


async def test_close_commits_queued_writes_and_then_refuses(tmp_path: Path) -> None:
    db = tmp_path / "tapri.db"
    async with AsyncExitStack() as stack:
        store = await SQLiteStore.start(stack, db)
        pending = [asyncio.create_task(store.save_run(run(f"r{i}"))) for i in range(50)]
        await asyncio.sleep(0)
    await asyncio.gather(*pending)
    await store.close()
    with pytest.raises(StoreError, match="closed"):
        await store.save_run(run("late"))
    async with SQLiteStore.open(db, readonly=True) as reader:
        assert len(await reader.list_runs(limit=100)) == 50


async def test_durable_across_reopen_with_every_kind(tmp_path: Path) -> None:
    db = tmp_path / "tapri.db"
    async with SQLiteStore.open(db) as store:
        await store.save_run(run("r1", RunState.SUCCESS))
        await store.set_paused("wf", True)
        await store.record_fire(
            FireRecord(workflow="wf", scheduled_for=T0, recorded_at=T0, status=FireStatus.MISSED)
        )
    async with SQLiteStore.open(db) as store:
        assert await store.paused() == {"wf"}
        assert (await store.last_fires())["wf"].status is FireStatus.MISSED
        assert await store.finished_runs_before(T0 + timedelta(1)) == [run("r1", RunState.SUCCESS)]


async def test_readers_retry_while_the_file_is_locked(tmp_path: Path) -> None:
    db = tmp_path / "tapri.db"
    async with SQLiteStore.open(db) as store:
        await store.set_paused("wf", True)
    # An exclusive-mode writer shuts every reader out until it commits.
    holder = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
    holder.execute("PRAGMA locking_mode = EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")
    holder.execute("INSERT INTO paused VALUES ('other', 1)")

    async def release_later() -> None:
        await asyncio.sleep(0.3)
        holder.execute("COMMIT")
        holder.close()

    releasing = asyncio.create_task(release_later())
    async with SQLiteStore.open(db, readonly=True, busy_timeout=0.01) as reader:
        assert await reader.paused() == {"wf", "other"}
    await releasing


async def test_reads_give_up_with_a_store_error(tmp_path: Path) -> None:
    db = tmp_path / "tapri.db"
    async with SQLiteStore.open(db):
        pass
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("PRAGMA locking_mode = EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StoreError, match="locked"):
            await SQLiteStore.connect(db, readonly=True, busy_timeout=0.01)
    finally:
        holder.execute("ROLLBACK")
        holder.close()


async def test_a_row_superseded_in_the_same_batch_is_written_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    executed: list[tuple[str, int]] = []
    real = writer._transaction

    def spy(conn: sqlite3.Connection, steps: list[tuple[str, Any, int]]) -> dict[int, int]:
        executed.extend((sql.split()[2], len(rows)) for sql, rows, _ in steps)
        return real(conn, steps)

    monkeypatch.setattr(writer, "_transaction", spy)
    db = tmp_path / "tapri.db"
    async with SQLiteStore.open(db) as store:
        queued = [
            store.submit(
                tasks=[TaskRecord(run_id="r", task_id=f"t{i}", state=state)],
                attempts=[
                    AttemptRecord(
                        run_id="r", task_id=f"t{i}", attempt=1, outcome=None, started_at=T0
                    )
                ],
            )
            for i in range(50)
            for state in (TaskState.RUNNING, TaskState.SUCCESS)
        ]
        await asyncio.gather(*queued)
        stats = store.writer_stats()
        tasks = await store.get_tasks("r")
    assert stats.writes == 100 and stats.commits == 1
    assert sorted(executed) == [("attempts", 50), ("outputs", 50), ("task_instances", 50)]
    assert [t.state for t in tasks] == [TaskState.SUCCESS] * 50


async def test_wal_checkpoints_run_beside_the_writer(tmp_path: Path) -> None:
    db = tmp_path / "tapri.db"
    async with SQLiteStore.open(db) as store:
        assert store._writer is not None
        checkpointer = store._writer.checkpointer

        async def burst(first: int) -> None:
            for i in range(first, first + 300):  # one commit each, like the engine's chain
                output = "x" * 500
                task = TaskRecord(
                    run_id="r", task_id=f"t{i}", state=TaskState.SUCCESS, output=output
                )
                await store.save_task(task)

        async def settled(checkpoints: int) -> tuple[int, int, int]:
            """Once the writer is quiet, a checkpoint copies what is left."""
            async with asyncio.timeout(10):
                while checkpointer.checkpoints < checkpoints or checkpointer.running:
                    await asyncio.sleep(0.01)
            assert checkpointer.last is not None
            return checkpointer.last

        await burst(0)
        _, frames, copied = await settled(1)
        assert frames == copied > 300  # the burst is all in the database file now
        await burst(300)  # the WAL started over: it holds this burst only
        _, frames_after, copied_after = await settled(checkpointer.checkpoints + 1)
        assert frames_after == copied_after < frames * 1.5  # not 2x: it started over
        with sqlite3.connect(db) as conn:
            assert conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 1000  # default
    async with SQLiteStore.open(db, readonly=True) as reader:
        assert len(await reader.get_tasks("r")) == 600
