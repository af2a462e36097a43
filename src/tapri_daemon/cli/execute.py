"""`tapri` verbs of the execute group."""

from __future__ import annotations

import click


def register(group: click.Group) -> None:
    """Add this module's verbs to the root group."""
