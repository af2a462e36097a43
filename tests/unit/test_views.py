"""Renderings of a stored run: JSON documents, the terminal timeline, Mermaid."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from rich.console import Console, RenderableType

from tapri_daemon.interfaces import (
    AttemptRecord,
    Outcome,
    RunRecord,
    RunState,
    TaskRecord,
    TaskState,
    Trigger,
)
from tapri_daemon.views.documents import run_document, run_summary
from tapri_daemon.views.gantt import bars, fire_instant, gantt
from tapri_daemon.views.mermaid import mermaid_gantt
from tapri_daemon.views.show import show_run
from tapri_daemon.views.tables import human_seconds

T0 = datetime(2025, 3, 10, 4, 30, tzinfo=UTC)
IST = ZoneInfo("Asia/Kolkata")
RUN_ID = "tatkal__20250310T043000Z_3fa2c1"
FIRE_NS = int(T0.timestamp()) * 10**9


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def task(
    task_id: str, state: TaskState, tries: int, span: tuple[float, float], **kw: object
) -> TaskRecord:
    return TaskRecord(
        run_id=RUN_ID,
        task_id=task_id,
        state=state,
        attempts=tries,
        started_at=at(span[0]),
        ended_at=at(span[1]),
        **kw,  # type: ignore[arg-type]
    )


def attempt(
    task_id: str, n: int, outcome: Outcome | None, span: tuple[float, float | None], **kw: object
) -> AttemptRecord:
    end = None if span[1] is None else at(span[1])
    return AttemptRecord(
        run_id=RUN_ID,
        task_id=task_id,
        attempt=n,
        outcome=outcome,
        started_at=at(span[0]),
        ended_at=end,
        **kw,  # type: ignore[arg-type]
    )


def sample() -> tuple[RunRecord, list[TaskRecord], list[AttemptRecord]]:
    """A precise run whose booking task failed once and succeeded on its retry."""
    run = RunRecord(
        run_id=RUN_ID,
        workflow="tatkal",
        logical_date=T0,
        trigger=Trigger.SCHEDULE,
        state=RunState.FAILED,
        queued_at=at(-5),
        started_at=at(-5),
        ended_at=at(4),
        scheduled_for=T0,
        reason="1 task failed: notify",
    )
    tasks = [
        task("login", TaskState.SUCCESS, 1, (-5, -3), output={"session": "abc"}),
        task("book_ticket", TaskState.SUCCESS, 2, (0, 3.5), output="PNR 4521"),
        task("notify", TaskState.FAILED, 1, (3.5, 4), reason="exit 2"),
    ]
    attempts = [
        attempt("login", 1, Outcome.SUCCESS, (-5, -3)),
        attempt(
            "book_ticket",
            1,
            Outcome.FAILED,
            (0.0002, 1),
            exit_code=1,
            fire_target_ns=FIRE_NS,
            fire_actual_ns=FIRE_NS + 180_000,
        ),
        attempt("book_ticket", 2, Outcome.SUCCESS, (1.5, 3.5)),
        attempt("notify", 1, Outcome.FAILED, (3.5, 4), exit_code=2),
    ]
    return run, tasks, attempts


def plain(renderable: RenderableType, width: int = 100) -> str:
    console = Console(width=width, color_system=None, file=io.StringIO(), force_terminal=False)
    console.print(renderable)
    text = console.file.getvalue()  # type: ignore[attr-defined]
    return "\n".join(line.rstrip() for line in text.splitlines())


SNAPSHOT = """\
run tatkal__20250310T043000Z_3fa2c1
workflow tatkal · state failed · trigger schedule
logical 2025-03-10 10:00:00 · started 2025-03-10 09:59:55 · took 9.00s
reason: 1 task failed: notify

 task          state     tries   started    took    output / reason
 ─────────────────────────────────────────────────────────────────────
 login         success   1       09:59:55   2.00s   {"session": "abc"}
 book_ticket   success   2       10:00:00   3.50s   PNR 4521
 notify        failed    1       10:00:03   500ms   exit 2

timeline (times in Asia/Kolkata)
               09:59:55.000          09:59:59.500          10:00:04.000
               ├───────────────────────────┼──────────────────────────┤
login #1       █████████████                  ┊                         success 2.00s
book_ticket #1                                ▓▓▓▓▓▓▓                   failed exit 1 +180µs 1.00s
book_ticket #2                                ┊        █████████████    success 2.00s
notify #1                                     ┊                    ▓▓▓▓ failed exit 2 500ms
                                              ▲ fire 10:00:00.000000
█ success  ▓ failed  ▒ timeout  ░ cancelled  × lost  = running  ┊ fire"""


def test_show_text_snapshot_with_a_retried_task() -> None:
    run, tasks, attempts = sample()
    assert plain(show_run(run, tasks, attempts, now=at(60), tz=IST)) == SNAPSHOT


def test_bars_follow_attempts_and_colour_by_outcome() -> None:
    run, _, attempts = sample()
    running = attempt("notify", 2, None, (5, None))
    rows = bars([*attempts, running], now=at(9))
    assert [b.label for b in rows][-3:] == ["book_ticket #2", "notify #1", "notify #2"]
    assert rows[-1].outcome == "running" and rows[-1].end == at(9)
    console = Console(width=100, color_system="standard", file=io.StringIO(), force_terminal=True)
    console.print(gantt(run, [*attempts, running], now=at(9), tz=IST, width=100))
    coloured = console.file.getvalue()  # type: ignore[attr-defined]
    assert "\x1b[31m▓▓" in coloured and "\x1b[32m██" in coloured and "\x1b[36m=" in coloured
    assert fire_instant(run, attempts) == T0


def test_gantt_without_attempts() -> None:
    run, _, _ = sample()
    assert plain(gantt(run, [], now=at(0), tz=IST)) == "no attempts yet"


MERMAID_TASK = re.compile(
    r"^    (?P<name>[^:;#]+) : (?P<status>done|active|crit, done|milestone), "
    r"(?P<id>[A-Za-z_][A-Za-z0-9_]*), (?P<start>[0-9-]+ [0-9:.]+), (?P<end>[0-9-]+ [0-9:.]+)$"
)


def test_mermaid_gantt_structure() -> None:
    run, _, attempts = sample()
    text = mermaid_gantt(run, attempts, now=at(60), tz=IST)
    lines = text.splitlines()
    assert lines[0] == "gantt"
    assert "    dateFormat YYYY-MM-DD HH:mm:ss.SSS" in lines
    assert any(re.fullmatch(r"    axisFormat %H:%M:%S(\.%L)?", line) for line in lines)
    sections = [line.split("section ", 1)[1] for line in lines if line.startswith("    section ")]
    assert sections == ["schedule", "login", "book_ticket", "notify"]
    body = [line for line in lines if " : " in line]
    matches = [MERMAID_TASK.match(line) for line in body]
    assert all(matches), [line for line, m in zip(body, matches, strict=True) if not m]
    ids = [m["id"] for m in matches if m]
    assert len(ids) == len(set(ids)) == 5
    for m in matches:
        assert m is not None
        start, end = (datetime.strptime(m[k], "%Y-%m-%d %H:%M:%S.%f") for k in ("start", "end"))
        assert start <= end
    statuses = {m["id"]: m["status"] for m in matches if m}
    assert statuses == {
        "fire": "milestone",
        "login_1": "done",
        "book_ticket_1": "crit, done",
        "book_ticket_2": "done",
        "notify_1": "crit, done",
    }
    assert "fire : milestone, fire, 2025-03-10 10:00:00.000, 2025-03-10 10:00:00.000" in text


def test_mermaid_marks_running_attempts_active() -> None:
    run, _, _ = sample()
    text = mermaid_gantt(run, [attempt("load", 1, None, (0, None))], now=at(2), tz=UTC)
    assert "    attempt 1 running : active, load_1, 2025-03-10 04:30:00.000, " in text


def test_documents() -> None:
    run, tasks, attempts = sample()
    summary = run_summary(run)
    assert list(summary) == [
        "run_id",
        "workflow",
        "state",
        "logical_date",
        "trigger",
        "started_at",
        "ended_at",
    ]
    assert summary["logical_date"] == "2025-03-10T04:30:00+00:00"
    plain_doc = run_document(run, tasks)
    assert set(plain_doc) == {"run_id", "workflow", "state", "logical_date", "tasks"}
    assert plain_doc["tasks"]["book_ticket"] == {
        "state": "success",
        "attempts": 2,
        "output": "PNR 4521",
        "reason": None,
    }
    shown = run_document(run, tasks, attempts)
    listed = shown["tasks"]["book_ticket"]["attempt_list"]
    assert [(a["attempt"], a["outcome"]) for a in listed] == [(1, "failed"), (2, "success")]
    assert listed[0]["exit_code"] == 1 and listed[0]["lateness_us"] == 180.0


def test_human_seconds() -> None:
    assert [human_seconds(s) for s in (0.0042, 0.9999, 2.1, 185, 7300)] == [
        "4ms",
        "1.00s",
        "2.10s",
        "3m05s",
        "2h01m",
    ]
