"""`realign` commands of the grpo stage (being built; see its issue)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the grpo commands to `app`."""
