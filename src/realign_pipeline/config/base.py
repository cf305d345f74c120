"""Shared base for the typed config sections.

Every section is a frozen pydantic model that forbids unknown keys, so a typo in params.yaml
fails at load time instead of being silently ignored.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

# every stage that computes with torch on the CPU (realign_pipeline.cpu_threads)
CpuThreads = Annotated[
    int,
    Field(
        ge=0,
        description="torch's CPU threads on a run without a GPU (0 = torch's default, which "
        "follows the environment, e.g. OMP_NUM_THREADS). CPU float sums depend on the thread "
        "count: a fixed value keeps the outputs byte-identical in every environment (tiny models "
        "on a shared CPU sample fastest with 1).",
    ),
]


class Section(BaseModel):
    """Frozen, strict-keys base for one params.yaml section."""

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)


class PixelBounds(Section):
    """Qwen2.5-VL's image processor bounds (grpo, sample, caption, tiny_models)."""

    min_pixels: int = Field(ge=28 * 28, description="Lower bound on pixels per image (28*28).")
    max_pixels: int = Field(
        ge=28 * 28,
        description="Upper bound on pixels per image; one image token per 28x28 block, so it "
        "bounds prompt length and memory (Qwen default 12845056; 56*56 = 3136 -> 4 tokens). "
        "Keep grpo, sample and caption equal: the model sees images as it was trained.",
    )

    @model_validator(mode="after")
    def _check_pixels(self) -> PixelBounds:
        if self.min_pixels > self.max_pixels:
            raise ValueError(f"min_pixels ({self.min_pixels}) > max_pixels ({self.max_pixels})")
        return self


class LoraConfig(Section):
    """PEFT LoRA adapters; the keys are `peft.LoraConfig`'s (r, lora_alpha -> alpha, ...)."""

    r: int = Field(gt=0, description="LoRA rank.")
    alpha: float = Field(gt=0, description="LoRA alpha (scaling = alpha / r).")
    dropout: float = Field(ge=0, lt=1, description="Dropout on the LoRA input.")
    target_modules: list[str] = Field(min_length=1, description="Module names to adapt.")
