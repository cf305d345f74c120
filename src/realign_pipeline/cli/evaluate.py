"""`realign` commands of the evaluate stage (being built; see its issue)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the evaluate commands to `app`."""
