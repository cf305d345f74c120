"""Shared base for the typed config sections.

Every section is a frozen pydantic model that forbids unknown keys, so a typo in params.yaml
fails at load time instead of being silently ignored.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Section(BaseModel):
    """Frozen, strict-keys base for one params.yaml section."""

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)


class LoraConfig(Section):
    """PEFT LoRA adapters; the keys are `peft.LoraConfig`'s (r, lora_alpha -> alpha, ...)."""

    r: int = Field(gt=0, description="LoRA rank.")
    alpha: float = Field(gt=0, description="LoRA alpha (scaling = alpha / r).")
    dropout: float = Field(ge=0, lt=1, description="Dropout on the LoRA input.")
    target_modules: list[str] = Field(min_length=1, description="Module names to adapt.")
