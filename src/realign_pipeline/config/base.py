"""Shared base for the typed config sections.

Every section is a frozen pydantic model that forbids unknown keys, so a typo in params.yaml
fails at load time instead of being silently ignored.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    """Frozen, strict-keys base for one params.yaml section."""

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)
