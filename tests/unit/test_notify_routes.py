"""Routing: workflow routes, task routes adding to them, event kinds to route names."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tapri_daemon.interfaces import Event, EventKind
from tapri_daemon.model import Definitions
from tapri_daemon.notify.routes import ROUTE_OF, notifier_names

AT = datetime(2025, 1, 6, 9, 30, tzinfo=UTC)


def definitions() -> Definitions:
    return Definitions.model_validate(
        {
            "notifier": {n: {"urls": [f"json://127.0.0.1/{n}"]} for n in ("ops", "biz", "lead")},
            "workflow": {
                "rbi": {
                    "notify": {"on_failure": ["ops"], "on_retry": ["ops"], "on_late": ["biz"]},
                    "task": {
                        "extract": {"command": "true"},
                        "upload": {
                            "command": "true",
                            "notify": {
                                "on_failure": ["biz", "ops"],
                                "on_retry": ["lead"],
                                "on_success": ["lead"],
                                "on_late": ["lead"],
                            },
                        },
                    },
                }
            },
        }
    )


def event(kind: EventKind, **fields: Any) -> Event:
    return Event(kind=kind, workflow="rbi", at=AT, run_id="r1", **fields)


def test_every_event_kind_has_a_route() -> None:
    assert set(ROUTE_OF) == set(EventKind)
    assert ROUTE_OF[EventKind.DEADLINE_MISSED] == ROUTE_OF[EventKind.FIRE_LATE] == "on_late"


def test_task_routes_add_to_workflow_routes_for_that_task() -> None:
    defs = definitions()
    retry = EventKind.TASK_RETRYING
    assert notifier_names(defs, event(retry, task_id="upload")) == ["ops", "lead"]
    assert notifier_names(defs, event(retry, task_id="extract")) == ["ops"]


def test_a_failed_run_adds_the_routes_of_its_failed_tasks_once_each() -> None:
    defs = definitions()
    failed = event(EventKind.RUN_FAILED, details={"failed_tasks": ["upload", "extract"]})
    assert notifier_names(defs, failed) == ["ops", "biz"]
    other = event(EventKind.RUN_FAILED, details={"failed_tasks": ["extract"]})
    assert notifier_names(defs, other) == ["ops"]


def test_a_succeeded_run_reaches_the_success_routes_of_its_tasks() -> None:
    assert notifier_names(definitions(), event(EventKind.RUN_SUCCEEDED)) == ["lead"]


def test_late_events_reach_task_routes_only_when_about_that_task() -> None:
    defs = definitions()
    late = EventKind.DEADLINE_MISSED
    assert notifier_names(defs, event(late, task_id="upload")) == ["biz", "lead"]
    assert notifier_names(defs, event(late)) == ["biz"]


def test_events_without_a_route_or_workflow_reach_nobody() -> None:
    defs = definitions()
    assert notifier_names(defs, event(EventKind.FIRES_MISSED)) == []
    gone = Event(kind=EventKind.RUN_FAILED, workflow="deleted", at=AT)
    assert notifier_names(defs, gone) == []
