"""`realign` commands of the sample stage (being built; see its issue)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the sample commands to `app`."""
