"""`grpo` section: AIGI-R1 GRPO training of the VLM."""

from __future__ import annotations

import difflib
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, model_validator

from realign_pipeline.config.base import CpuThreads, LoraConfig, PixelBounds, Section


class GRPOLoraConfig(LoraConfig):
    """Optional LoRA adapters on the language model (PEFT); merged into the saved model."""

    enabled: bool = Field(description="Train LoRA adapters instead of all weights.")
    alpha: int = Field(gt=0, description="LoRA alpha (scaling = alpha / r).")
    target_modules: list[str] = Field(
        min_length=1,
        description="Module names to adapt, e.g. [q_proj, k_proj, v_proj, o_proj] (the language "
        "model's attention; the vision tower's blocks use `qkv`/`proj` and stay frozen).",
    )


class ColdStartConfig(Section):
    """Optional supervised cold start (TRL SFTTrainer) on format examples before GRPO.

    A randomly initialised model almost never writes the tag format, so every reward is 0 and
    GRPO has nothing to learn from; R1-style pipelines fix that with a short SFT on examples of
    the format. The examples are training images with their true label in
    `<think>…</think><answer>real|fake</answer>` and a label-neutral reasoning sentence.
    Off in the paper preset (Qwen2.5-VL-7B-Instruct follows the system prompt).
    """

    enabled: bool = Field(description="Run the SFT cold start before GRPO.")
    num_examples: int = Field(gt=0, description="Training images used (balanced by label).")
    num_train_epochs: float = Field(gt=0, description="SFT epochs over those examples.")
    learning_rate: float = Field(gt=0, description="SFT learning rate.")
    per_device_train_batch_size: int = Field(gt=0, description="SFT per-device batch size.")


class GRPOEvalConfig(Section):
    """Greedy decoding on the held-out (val) manifest: format rate and answer accuracy."""

    max_images: int = Field(gt=0, description="At most this many val images (balanced, seeded).")
    max_new_tokens: int = Field(gt=0, description="Tokens generated per image.")
    batch_size: int = Field(gt=0, description="Images per generate() call.")
    baseline: bool = Field(
        description="Also evaluate the model before any training (adds `baseline_*` metrics)."
    )


class LauncherConfig(Section):
    """How `realign grpo` starts its training processes (see `realign_pipeline.launch`)."""

    config: str | None = Field(
        description="accelerate config file (paper: deploy/accelerate/zero3.yaml, DeepSpeed "
        "ZeRO-3), relative to the repository root; null = accelerate's defaults."
    )
    num_processes: Annotated[int, Field(ge=1)] | Literal["auto"] = Field(
        description="Training processes, one per GPU: `auto` = every visible GPU (paper; 1 "
        "without a GPU). With more than 1, or a config, `realign grpo` re-executes itself "
        "through `accelerate launch`; 1 and no config (tiny preset) = one plain process."
    )


# Set by the stage itself: where checkpoints go, the shared seed, the MLflow reporting.
_STAGE_KEYS = ("output_dir", "seed", "data_seed", "report_to", "run_name")


class GRPOConfig(PixelBounds):
    """AIGI-R1: GRPO training of the VLM with TRL (paper: Qwen2.5-VL-7B, lr 1e-6, beta 0.04).

    The fields below are ours; every other key of the section is a `trl.GRPOConfig` field under
    TRL's own name (learning_rate, beta, num_generations, reward_weights as [detection, format],
    use_vllm, bf16, ...), passed through as is: TRL's documentation is theirs, and TRL validates
    them when the stage builds its config. A key that is neither fails at load time.
    """

    model_config = ConfigDict(frozen=True, extra="allow", validate_default=True)

    model: str = Field(
        min_length=1,
        description="Hub id (Qwen/Qwen2.5-VL-7B-Instruct) or local snapshot folder "
        "(artifacts/tiny_models/vlm); the CLI's --model wins.",
    )
    dtype: Literal["float32", "bfloat16", "float16"] = Field(
        description="Weight dtype the model is loaded in."
    )
    use_system_prompt: bool = Field(
        description="Prepend prompts.DEFAULT_SYSTEM_PROMPT (the paper's detail-seeking prompt)."
    )
    max_train_images: int | None = Field(
        gt=0, description="Use at most this many training images (balanced, seeded); null = all."
    )
    completions_table_steps: int = Field(
        gt=0, description="Log a table of sampled completions and rewards every N steps."
    )
    cpu_threads: CpuThreads
    launcher: LauncherConfig
    lora: GRPOLoraConfig
    cold_start: ColdStartConfig
    eval: GRPOEvalConfig

    @property
    def trl_args(self) -> dict[str, Any]:
        """The section's `trl.GRPOConfig` keyword arguments (every key that is not ours)."""
        return dict(self.model_extra or {})

    @model_validator(mode="after")
    def _check_trl_keys(self) -> GRPOConfig:
        from realign_pipeline.config.trl_fields import trl_grpo_fields

        fields = trl_grpo_fields()
        known = sorted(fields | set(type(self).model_fields))
        for key in self.trl_args:
            if key in _STAGE_KEYS:
                raise ValueError(f"{key}: set by the grpo stage itself; remove it from params")
            if key not in fields:
                close = difflib.get_close_matches(key, known, n=1)
                hint = f"; did you mean {close[0]}?" if close else ""
                raise ValueError(f"unknown key {key!r}: not a trl.GRPOConfig field{hint}")
        return self
