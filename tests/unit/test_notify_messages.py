"""Messages: built-in texts per language, the zone's time, failures with log tails, overrides."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tapri_daemon import zones
from tapri_daemon.errors import TemplateError
from tapri_daemon.interfaces import Event, EventKind
from tapri_daemon.model import Notifier
from tapri_daemon.notify.messages import Renderer, check_template
from tapri_daemon.notify.templates import PHRASEBOOKS

KOLKATA = zones.zone("Asia/Kolkata")
AT = datetime(2025, 1, 6, 9, 30, 3, tzinfo=UTC)  # 15:00:03 IST
LOG = "\n".join(f"line {n}" for n in range(1, 40)) + "\nERROR: GSTN portal returned 503"


def failed_run(**details: Any) -> Event:
    return Event(
        kind=EventKind.RUN_FAILED,
        workflow="rbi_daily_reporting",
        at=AT,
        run_id="rbi-20250106-1500",
        reason="task upload failed (exit 2)",
        details={"failed_tasks": ["upload"], "log_tail": {"upload": LOG}, **details},
    )


def render(event: Event, **notifier: Any) -> Any:
    spec = Notifier.model_validate({"urls": ["json://127.0.0.1/x"], **notifier})
    return Renderer().render(event, "ops", spec, zone=KOLKATA)


def test_english_failure_names_everything_needed_to_look_further() -> None:
    message = render(failed_run())
    assert message.title == "tapri: rbi_daily_reporting failed"
    assert message.notify_type == "failure"
    body = message.body
    assert "Run rbi-20250106-1500 of rbi_daily_reporting failed at 15:00:03 IST." in body
    assert "Reason: task upload failed (exit 2)" in body
    assert "Failed tasks: upload" in body
    assert "tapri show rbi-20250106-1500" in body
    assert "tapri logs rbi-20250106-1500 upload" in body


def test_the_log_tail_keeps_only_the_last_lines() -> None:
    body = render(failed_run()).body
    assert "ERROR: GSTN portal returned 503" in body
    assert "line 21\n" in body
    assert "line 20\n" not in body  # only the last 20 lines of the log


@pytest.mark.parametrize(
    ("language", "title_word", "body_word"),
    [
        ("hi", "विफल हुआ", "पर विफल हो गया"),
        ("mr", "अयशस्वी झाले", "वाजता अयशस्वी झाला"),
        ("hinglish", "fail ho gaya", "Arre bhai"),
    ],
)
def test_each_language_has_its_own_text(language: str, title_word: str, body_word: str) -> None:
    message = render(failed_run(), language=language)
    assert title_word in message.title
    assert body_word in message.body
    assert "15:00:03 IST" in message.body
    assert "tapri logs rbi-20250106-1500 upload" in message.body


def test_every_language_has_a_title_and_headline_for_every_event_kind() -> None:
    kinds = {str(kind) for kind in EventKind}
    for book in PHRASEBOOKS.values():
        assert set(book.titles) == kinds
        assert set(book.headlines) == kinds


@pytest.mark.parametrize("language", ["en", "hi", "mr", "hinglish"])
@pytest.mark.parametrize("kind", list(EventKind))
def test_every_kind_renders_in_every_language(kind: EventKind, language: str) -> None:
    event = Event(
        kind=kind,
        workflow="irctc_tatkal",
        at=AT,
        run_id="tatkal-1",
        task_id="book",
        attempt=2,
        details={"missed_count": 3, "lateness_us": 1250.0, "deadline": "10:00:05"},
    )
    message = render(event, language=language)
    assert "irctc_tatkal" in message.title
    assert "irctc_tatkal" in message.body
    assert "15:00:03 IST" in message.body


def test_retry_shows_task_attempt_and_delay() -> None:
    event = Event(
        kind=EventKind.TASK_RETRYING,
        workflow="dabbawala",
        at=AT,
        run_id="d-1",
        task_id="sort",
        attempt=2,
        details={"delay_s": 30, "next_attempt": 3},  # as the engine sends it
    )
    body = render(event).body
    assert "Task sort of dabbawala failed on attempt 2" in body
    assert "retried in 30s" in body
    assert "Task: sort (attempt 2)" in body


def test_a_deadline_instant_is_shown_as_the_zone_clock_time() -> None:
    event = Event(
        kind=EventKind.DEADLINE_MISSED,
        workflow="rbi_daily_reporting",
        at=AT,
        run_id="rbi-1",
        task_id="upload",
        details={"deadline": "2025-01-06T09:30:00+00:00", "action": "alert"},
    )
    body = render(event, language="hinglish").body
    assert "ka task upload deadline (15:00:00 IST) tak poora nahi hua" in body


def test_the_time_is_shown_in_the_given_zone_with_its_abbreviation() -> None:
    spec = Notifier(urls=("json://x",))
    message = Renderer().render(failed_run(), "ops", spec, zone=zones.zone("Europe/London"))
    assert "09:30:03 GMT" in message.body


def test_a_notifier_template_and_title_override_the_built_in_ones() -> None:
    message = render(
        failed_run(),
        template="{{ workflow }}/{{ run_id }} {{ failed_tasks | join(',') }} @ {{ time }}",
        title="ALERT {{ workflow | upper }}",
    )
    assert message.title == "ALERT RBI_DAILY_REPORTING"
    assert message.body == "rbi_daily_reporting/rbi-20250106-1500 upload @ 15:00:03 IST"
    assert message.template_error is None


def test_a_broken_template_falls_back_to_the_built_in_message() -> None:
    message = render(failed_run(), template="{{ no_such_variable }}")
    assert "no_such_variable" in (message.template_error or "")
    assert "Failed tasks: upload" in message.body


def test_templates_run_in_a_sandbox() -> None:
    message = render(failed_run(), template="{{ ''.__class__.__mro__[1].__subclasses__() }}")
    assert message.template_error is not None
    assert "__subclasses__" not in message.body


def test_check_template_reports_the_line_of_a_syntax_error() -> None:
    with pytest.raises(TemplateError, match="line 2"):
        check_template("ok\n{% if %}")


def test_a_folded_summary_says_how_many_and_over_what_window() -> None:
    spec = Notifier(urls=("json://x",), language="hinglish")
    message = Renderer().render(
        failed_run(), "ops", spec, zone=KOLKATA, folded=4, window=timedelta(minutes=10)
    )
    assert message.folded == 4
    assert message.title.startswith("[+4] ")
    assert message.body.startswith("Pichhle 10m mein aise 4 aur messages")
