"""`realign` commands of the review stage (being built; see its issue)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the review commands to `app`."""
