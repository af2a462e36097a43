"""Run ids: ``<workflow>__<logical date, UTC, to the second>Z_<6 hex>``.

Example: ``rbi_daily_reporting__20260105T093000Z_3fa2c1``. Readable (which workflow, which
logical date), sortable by logical date within a workflow, safe as a file name, and the
random tail keeps two runs of the same instant apart.
"""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime

RUN_ID = re.compile(
    r"^(?P<workflow>[a-z][a-z0-9_]*)__(?P<stamp>\d{8}T\d{6}Z)_(?P<tail>[0-9a-f]{6})$"
)


def new_run_id(workflow: str, logical_date: datetime) -> str:
    stamp = logical_date.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{workflow}__{stamp}_{secrets.token_hex(3)}"


def workflow_of(run_id: str) -> str | None:
    """The workflow a run id names, or None for an id not made by ``new_run_id``."""
    match = RUN_ID.match(run_id)
    return match.group("workflow") if match else None
