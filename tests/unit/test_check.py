"""spec.check: cross-checks on models, no files involved."""

from __future__ import annotations

from typing import Any

import pytest

from tapri_daemon.model import Definitions
from tapri_daemon.spec.check import check_definitions
from tapri_daemon.spec.findings import Finding
from tapri_daemon.spec.templates import Scope, template_problems


def _defs(workflows: dict[str, Any], **extra: Any) -> Definitions:
    return Definitions.model_validate({"workflow": workflows, **extra})


def _wf(tasks: dict[str, Any], **keys: Any) -> dict[str, Any]:
    return {"task": tasks, **keys}


def _check(definitions: Definitions) -> list[Finding]:
    return check_definitions(definitions, default_timezone="UTC")


def _errors(definitions: Definitions) -> dict[tuple[str | int, ...], str]:
    return {f.key: f.message for f in _check(definitions) if f.severity == "error"}


SH = {"shell": "true"}


def test_a_clean_workflow_has_no_findings() -> None:
    defs = _defs({"a": _wf({"x": SH, "y": SH | {"after": "x"}}, schedule="0 3 * * *")})
    assert _check(defs) == []


def test_cycle_is_reported_as_its_path() -> None:
    defs = _defs(
        {"w": _wf({"a": SH | {"after": "c"}, "b": SH | {"after": "a"}, "c": SH | {"after": "b"}})}
    )
    [(key, message)] = _errors(defs).items()
    assert key[:2] == ("workflow", "w")
    assert "dependency cycle" in message
    assert message.count("->") == 3


def test_unknown_dependency_with_did_you_mean() -> None:
    defs = _defs({"w": _wf({"extract": SH, "load": SH | {"after": ["extrakt"]}})})
    errors = _errors(defs)
    assert 'did you mean "extract"' in errors[("workflow", "w", "task", "load", "after", 0)]


def test_self_dependency() -> None:
    defs = _defs({"w": _wf({"a": SH | {"after": "a"}})})
    assert "depends on itself" in _errors(defs)[("workflow", "w", "task", "a", "after", 0)]


def test_unknown_references_everywhere() -> None:
    defs = _defs(
        {
            "w": _wf(
                {
                    "t": SH | {"pool": "gatewy", "notify": {"on_retry": ["opz"]}},
                    "q": {"sql": "select 1", "database": "warehous"},
                },
                calendar="nse",
                notify={"on_failure": ["ops", "nobody"]},
                defaults={"pool": "gateway"},
            )
        },
        pool={"gateway": {"slots": 1}},
        notifier={"ops": {"urls": ["json://x"]}},
        database={"warehouse": {"url": "sqlite:///w.db"}},
        defaults={"pool": "nopool"},
    )
    errors = _errors(defs)
    assert "no [calendar.NAME] is defined" in errors[("workflow", "w", "calendar")]
    assert 'did you mean "gateway"' in errors[("workflow", "w", "task", "t", "pool")]
    assert 'did you mean "ops"' in errors[("workflow", "w", "task", "t", "notify", "on_retry", 0)]
    assert 'unknown notifier "nobody"' in errors[("workflow", "w", "notify", "on_failure", 1)]
    assert 'did you mean "warehouse"' in errors[("workflow", "w", "task", "q", "database")]
    assert 'unknown pool "nopool"' in errors[("defaults", "pool")]
    assert ("workflow", "w", "defaults", "pool") not in errors


def test_declared_but_invalid_ids_are_not_unknown() -> None:
    defs = _defs({"w": _wf({"t": SH | {"pool": "broken_pool"}})})
    findings = check_definitions(defs, default_timezone="UTC", declared={"pool": {"broken_pool"}})
    assert findings == []


def test_database_url_is_accepted_and_garbage_is_not() -> None:
    defs = _defs(
        {
            "w": _wf(
                {
                    "a": {"sql": "select 1", "database": "sqlite:///x.db"},
                    "b": {"sql": "select 1", "database": "not a url"},
                    "c": {"sql": "select 1"},
                }
            )
        }
    )
    errors = _errors(defs)
    assert ("workflow", "w", "task", "a", "database") not in errors
    assert "neither" in errors[("workflow", "w", "task", "b", "database")]
    assert "needs `database`" in errors[("workflow", "w", "task", "c", "sql")]


def test_precise_keys_outside_a_precise_workflow() -> None:
    defs = _defs(
        {
            "w": _wf(
                {"a": SH | {"at_fire": True, "fire_offset": "20ms"}}, lead="2m", schedule="@daily"
            )
        }
    )
    errors = _errors(defs)
    for key in (("lead",), ("task", "a", "at_fire"), ("task", "a", "fire_offset")):
        assert "precise = true" in errors[("workflow", "w", *key)]


def test_precise_workflow_needs_a_schedule() -> None:
    defs = _defs({"w": _wf({"a": SH | {"at_fire": True}}, precise=True)})
    assert "needs a schedule" in _errors(defs)[("workflow", "w", "precise")]


def test_race_members_need_the_same_upstreams() -> None:
    tasks = {
        "prep": SH,
        "other": SH,
        "one": SH | {"race": "booking", "after": "prep"},
        "two": SH | {"race": "booking", "after": ["prep", "other"]},
    }
    errors = _errors(_defs({"w": _wf(tasks)}))
    message = errors[("workflow", "w", "task", "two", "race")]
    assert 'race "booking"' in message
    assert "[other, prep]" in message


def test_race_with_same_upstreams_is_fine() -> None:
    tasks = {"prep": SH, "one": SH | {"race": "r"}, "two": SH | {"race": "r"}}
    tasks["one"]["after"] = tasks["two"]["after"] = "prep"
    assert _errors(_defs({"w": _wf(tasks)})) == {}


@pytest.mark.parametrize(
    ("schedule", "words"),
    [("61 * * * *", "minute"), ("0 0 30 2 *", "never"), ("every 90", "duration")],
)
def test_bad_schedules_are_errors_at_their_index(schedule: str, words: str) -> None:
    defs = _defs({"w": _wf({"a": SH}, schedule=["@daily", schedule])})
    errors = _errors(defs)
    assert words in errors[("workflow", "w", "schedule", 1)]
    assert ("workflow", "w", "schedule", 0) not in errors


def test_uneven_step_is_a_warning() -> None:
    findings = _check(_defs({"w": _wf({"a": SH}, schedule="*/7 * * * *")}))
    assert [f.severity for f in findings] == ["warning"]
    assert findings[0].key == ("workflow", "w", "schedule", 0)


def test_templates_reference_only_what_a_task_can_see() -> None:
    tasks = {
        "first": SH,
        "second": {"command": ["echo", "{{ outputs.first.x }}", "{{ outputs.third.y }}"]},
        "third": SH | {"after": "second", "env": {"P": "{{ params.limit }} {{ params.limt }}"}},
        "fifth": {"python": "m:f", "args": {"deep": [{"x": "{{ outputs.fifth.y }}"}]}},
        "sixth": {
            "sql": "select '{{ not checked'",
            "database": "sqlite:///x",
            "sql_params": {"a": "{{ tss }}"},
        },
        "fourth": {
            "http": {"url": "http://h/{{ outputs.fist.id }}", "headers": {"D": "{{ dss }}"}}
        },
    }
    defs = _defs({"w": _wf(tasks, params={"limit": 5}, flow="first >> second")})
    errors = _errors(defs)
    prefix = ("workflow", "w", "task")
    assert ("workflow", "w", "task", "second", "command", 1) not in errors
    assert "not upstream" in errors[(*prefix, "second", "command", 2)]
    assert 'did you mean "limit"' in errors[(*prefix, "third", "env", "P")]
    assert 'did you mean "first"' in errors[(*prefix, "fourth", "http", "url")]
    assert 'did you mean "ds"' in errors[(*prefix, "fourth", "http", "headers", "D")]
    assert "not upstream" in errors[(*prefix, "fifth", "args", "deep", 0, "x")]
    assert 'did you mean "ts"' in errors[(*prefix, "sixth", "sql_params", "a")]
    assert (*prefix, "sixth", "sql") not in errors


def test_race_output_is_visible_when_all_members_are_upstream() -> None:
    tasks = {
        "a": SH | {"race": "r"},
        "b": SH | {"race": "r"},
        "after_both": {"shell": "echo {{ outputs.r.pnr }}", "after": ["a", "b"]},
        "after_one": {"shell": "echo {{ outputs.r.pnr }}", "after": ["a"]},
    }
    errors = _errors(_defs({"w": _wf(tasks)}))
    assert list(errors) == [("workflow", "w", "task", "after_one", "shell")]


def test_outputs_in_defaults_are_refused() -> None:
    defs = _defs(
        {"w": _wf({"a": SH}, defaults={"env": {"X": "{{ outputs.a.v }}"}})},
        defaults={"env": {"Y": "{{ params.anything }} {{ outputs.a.v }}"}},
    )
    errors = _errors(defs)
    assert "cannot use outputs" in errors[("workflow", "w", "defaults", "env", "X")]
    assert "cannot use outputs" in errors[("defaults", "env", "Y")]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("{{ ds }} {{ ds_nodash }} {{ ts }} {{ run.id }} {{ logical_date }}", None),
        ("{{ data_interval_start }} {{ data_interval_end }}", None),
        ("{{ previous_business_day }} {{ next_business_day }}", None),
        ("{% for i in range(3) %}{{ i }}{% endfor %}", None),
        ("{% set x = params.limit %}{{ x }} {{ y }}", 'unknown template variable "y"'),
        ("{{ ds | default('none') | upper }}", None),
        ("{{ params['limit'] }}", None),
        ("{{ params['nope'] }}", "unknown param"),
        ("{{ unclosed ", "does not parse"),
        ("{{ os.system('x') }}", 'unknown template variable "os"'),
        ("no template here {", None),
    ],
)
def test_template_problems(text: str, problem: str | None) -> None:
    found = template_problems(text, Scope(params={"limit"}, outputs=set()))
    if problem is None:
        assert found == []
    else:
        assert len(found) == 1
        assert problem in found[0]
