"""Paths in requests: relative cwd and sqlite paths start at the workflow file's folder."""

from __future__ import annotations

from pathlib import Path

from tapri_daemon.engine.requests import database_url, working_dir
from tapri_daemon.model import Definitions

DEFS = Definitions.model_validate(
    {
        "database": {
            "orders": {"url": "sqlite:///examples/orders.db"},
            "abs": {"url": "sqlite:////var/lib/x.db"},
            "mem": {"url": ":memory:"},
        }
    }
)
BASE = Path("/srv/flows")


def test_named_database_paths() -> None:
    assert database_url(DEFS, "orders", BASE) == "sqlite:////srv/flows/examples/orders.db"
    assert database_url(DEFS, "abs", BASE) == "sqlite:////var/lib/x.db"
    assert database_url(DEFS, "mem", BASE) == ":memory:"
    assert database_url(DEFS, "orders", None) == "sqlite:///examples/orders.db"
    assert database_url(DEFS, None, BASE) is None


def test_database_given_as_a_url_or_path() -> None:
    assert database_url(DEFS, "data/x.db", BASE) == "sqlite:////srv/flows/data/x.db"
    assert database_url(DEFS, "postgresql://h/db", BASE) == "postgresql://h/db"


def test_working_dir() -> None:
    assert working_dir("examples", BASE) == "/srv/flows/examples"
    assert working_dir("/tmp", BASE) == "/tmp"
    assert working_dir(None, BASE) is None
    assert working_dir("examples", None) == "examples"


async def test_http_and_sql_requests_render_values_only(tmp_path: Path) -> None:
    from tapri_daemon.testing import EngineHarness, definitions_of

    tasks = {
        "call": {
            "http": {
                "url": "https://api.example/{{ params.region }}/{{ ds }}",
                "method": "POST",
                "headers": {"X-Run": "{{ run.run_id }}"},
                "json": {"day": "{{ ds }}", "n": 3},
                "expect_status": [200, 201],
            }
        },
        "query": {
            "sql": "SELECT * FROM t WHERE region = :region -- {{ params.region }}",
            "database": "sqlite:///x.db",
            "sql_params": {"region": "{{ params.region }}"},
        },
    }
    h = EngineHarness(definitions_of(tasks, params={"region": "west"}), log_dir=tmp_path)
    run = await h.run()
    call = next(r for r in h.executor.requests if r.task_id == "call")
    assert call.http is not None
    assert call.http["url"] == "https://api.example/west/2026-01-05"
    assert call.http["headers"] == {"X-Run": run.run_id}
    assert call.http["json"] == {"day": "2026-01-05", "n": 3}
    assert (call.http["method"], call.http["expect_status"]) == ("POST", (200, 201))
    query = next(r for r in h.executor.requests if r.task_id == "query")
    assert query.sql == "SELECT * FROM t WHERE region = :region -- {{ params.region }}"
    assert query.sql_params == {"region": "west"}
    assert query.database_url == "sqlite:///x.db"
