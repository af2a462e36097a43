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
