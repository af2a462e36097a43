from datetime import timedelta

import pytest

from tapri_daemon.durations import format_duration, parse_duration, parse_size
from tapri_daemon.errors import CycleError, DurationError, TimezoneError
from tapri_daemon.graph import TaskGraph, graph_problems, parse_flow
from tapri_daemon.model import Workflow
from tapri_daemon.zones import check_timezone


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("250ms", timedelta(milliseconds=250)),
        ("90s", timedelta(seconds=90)),
        ("2m", timedelta(minutes=2)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("1d", timedelta(days=1)),
    ],
)
def test_durations_round_trip(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected
    assert parse_duration(format_duration(expected)) == expected


@pytest.mark.parametrize("bad", [30, "30", "5 minutes", "", "1x", True])
def test_bare_numbers_and_words_are_refused(bad: object) -> None:
    with pytest.raises(DurationError, match="not a duration"):
        parse_duration(bad)


def test_sizes() -> None:
    assert parse_size("10MiB") == 10 << 20
    assert parse_size(512) == 512


@pytest.mark.parametrize(
    ("name", "hint"),
    [
        ("IST", "Asia/Kolkata"),
        ("UTC+5:30", "Asia/Kolkata"),
        ("asia/kolkata", "Asia/Kolkata"),
        ("/usr/share/zoneinfo/Asia/Kolkata", "Asia/Kolkata"),
    ],
)
def test_timezones_are_iana_only(name: str, hint: str) -> None:
    with pytest.raises(TimezoneError) as info:
        check_timezone(name)
    assert info.value.suggestion == hint


def test_flow_edges() -> None:
    assert parse_flow("a >> [b, c] >> d") == [("a", "b"), ("a", "c"), ("b", "d"), ("c", "d")]


def _wf(flow: list[str], after: dict[str, list[str]]) -> Workflow:
    names = sorted(
        {
            n
            for f in flow
            for n in f.replace("[", " ")
            .replace("]", " ")
            .replace(",", " ")
            .replace(">>", " ")
            .split()
        }
        | set(after)
    )
    return Workflow.model_validate(
        {"flow": flow, "task": {n: {"shell": "true", "after": after.get(n, [])} for n in names}}
    )


def test_cycle_is_reported_as_its_path() -> None:
    problems = graph_problems(_wf(["a >> b >> c"], {"a": ["c"]}))
    assert len(problems) == 1
    error = problems[0][1]
    assert isinstance(error, CycleError)
    assert str(error) == "dependency cycle: a -> b -> c -> a"


def test_graph_order_and_descendants() -> None:
    graph = TaskGraph.of(_wf(["p >> [x, y] >> n"], {}))
    assert graph.order[0] == "p" and graph.order[-1] == "n"
    assert graph.descendants("x") == {"n"}
    assert graph.ancestors("n") == {"p", "x", "y"}
