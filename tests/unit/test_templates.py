"""Templates: sandboxed, strict, argv words stay words, shell values are quoted."""

from __future__ import annotations

import shlex
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from tapri_daemon.engine.templates import Renderer, context
from tapri_daemon.errors import TemplateError
from tapri_daemon.interfaces import RunInfo, Trigger

LOGICAL = datetime(2026, 1, 2, 20, 0, tzinfo=UTC)  # Saturday 01:30 in Kolkata
HOSTILE = ["x'; touch /tmp/pwned #", "$(id)", "`id`", "a b", '"; rm -rf / "', "\n", ""]


def ctx(**params: object) -> dict[str, object]:
    run = RunInfo(
        run_id="w__x",
        workflow="w",
        logical_date=LOGICAL,
        data_interval_start=LOGICAL,
        data_interval_end=LOGICAL,
        trigger=Trigger.SCHEDULE,
        attempt=2,
        timezone="Asia/Kolkata",
    )
    return context(
        run=run,
        params=params,
        outputs={"fetch": {"rows": 3, "ids": [1, 2]}, "booking": {"pnr": "PNR42"}},
        zone=ZoneInfo("Asia/Kolkata"),
    )


def test_context_dates_are_in_the_workflow_zone() -> None:
    r = Renderer()
    c = ctx()
    assert r.render("{{ ds }} {{ ds_nodash }}", c) == "2026-01-03 20260103"
    assert r.render("{{ ts }}", c) == "2026-01-02T20:00:00+00:00"
    assert r.render("{{ logical_date.strftime('%H:%M') }}", c) == "01:30"
    assert r.render("{{ run.attempt }} {{ run.run_id }}", c) == "2 w__x"


def test_business_day_helpers() -> None:
    r = Renderer()
    c = ctx()
    assert r.render("{{ previous_business_day() }}", c) == "2026-01-02"
    assert r.render("{{ next_business_day() }}", c) == "2026-01-05"
    assert r.render("{{ next_business_day('2026-01-05') }}", c) == "2026-01-06"


def test_outputs_and_non_strings_render_as_json() -> None:
    r = Renderer()
    c = ctx(flag=True, nothing=None)
    assert r.render("{{ outputs.booking.pnr }}", c) == "PNR42"
    assert r.render("{{ outputs.fetch }}", c) == '{"rows": 3, "ids": [1, 2]}'
    assert r.render("{{ params.flag }}/{{ params.nothing }}", c) == "true/null"


@pytest.mark.parametrize("value", HOSTILE)
def test_each_argv_element_is_exactly_one_word(value: str) -> None:
    words = ("echo", "--name={{ params.v }}", "{{ params.v }}", "plain")
    argv = Renderer().argv(words, ctx(v=value))
    assert argv == ("echo", f"--name={value}", value, "plain")


@pytest.mark.parametrize("value", HOSTILE)
def test_shell_values_are_quoted_so_they_stay_one_word(value: str) -> None:
    script = Renderer().shell("printf '%s|' {{ params.v }} end", ctx(v=value))
    assert shlex.split(script) == ["printf", "%s|", value, "end"]


def test_shell_literal_text_is_left_as_written() -> None:
    script = Renderer().shell("ls | wc -l > {{ params.out }}", ctx(out="/tmp/a b"))
    assert script == "ls | wc -l > '/tmp/a b'"


def test_strict_undefined_and_syntax_errors_raise_template_error() -> None:
    r = Renderer()
    with pytest.raises(TemplateError, match="missing"):
        r.render("{{ params.missing }}", ctx())
    with pytest.raises(TemplateError, match="line 1"):
        r.render("{{ params.x ", ctx())


def test_the_sandbox_refuses_unsafe_attributes() -> None:
    with pytest.raises(TemplateError):
        Renderer().render("{{ ''.__class__.__mro__[1].__subclasses__() }}", ctx())


def test_render_value_renders_strings_inside_json() -> None:
    value = {"day": "{{ ds }}", "list": ["{{ params.n }}", 3], "keep": None}
    assert Renderer().render_value(value, ctx(n=5)) == {
        "day": "2026-01-03",
        "list": ["5", 3],
        "keep": None,
    }


def test_plain_text_is_not_parsed() -> None:
    assert Renderer().render("no templates } here {", ctx()) == "no templates } here {"


def test_custom_working_day_test_is_used() -> None:
    run_ctx = ctx()
    holidays = {date(2026, 1, 5)}
    run_ctx.update(
        context(
            run=RunInfo(
                run_id="r",
                workflow="w",
                logical_date=LOGICAL,
                data_interval_start=LOGICAL,
                data_interval_end=LOGICAL,
                trigger=Trigger.MANUAL,
                attempt=1,
                timezone="UTC",
            ),
            params={},
            outputs={},
            zone=ZoneInfo("Asia/Kolkata"),
            is_working_day=lambda d: d.weekday() < 5 and d not in holidays,
        )
    )
    assert Renderer().render("{{ next_business_day() }}", run_ctx) == "2026-01-06"
