"""`realign` commands of the align stage (being built; see its issue)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the align commands to `app`."""
