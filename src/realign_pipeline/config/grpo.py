"""`grpo` section: AIGI-R1 GRPO training of the VLM."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from realign_pipeline.config.base import LoraConfig, Section


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


class RewardWeightsConfig(Section):
    """R_total = detection * R_det + format * R_format (paper: 1 and 1)."""

    detection: float = Field(ge=0, description="Weight of the detection reward.")
    format: float = Field(ge=0, description="Weight of the format reward.")


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


class GRPOConfig(Section):
    """AIGI-R1: GRPO training of the VLM with TRL (paper: Qwen2.5-VL-7B, lr 1e-6, beta 0.04)."""

    model: str = Field(
        min_length=1,
        description="Hub id (Qwen/Qwen2.5-VL-7B-Instruct) or local snapshot folder "
        "(artifacts/tiny_models/vlm); the CLI's --model wins.",
    )
    dtype: Literal["float32", "bfloat16", "float16"] = Field(
        description="Weight dtype the model is loaded in."
    )
    bf16: bool = Field(description="bf16 mixed precision (needs a GPU; paper: true).")
    gradient_checkpointing: bool = Field(description="Trade compute for activation memory.")
    min_pixels: int = Field(ge=28 * 28, description="Image processor lower bound on pixels.")
    max_pixels: int = Field(
        ge=28 * 28,
        description="Image processor upper bound on pixels; one image token per 28x28 block, so "
        "this drives sequence length and memory (Qwen default 12845056; 1003520 = 1280 tokens).",
    )
    use_system_prompt: bool = Field(
        description="Prepend prompts.DEFAULT_SYSTEM_PROMPT (the paper's detail-seeking prompt)."
    )
    max_train_images: int | None = Field(
        gt=0, description="Use at most this many training images (balanced, seeded); null = all."
    )
    learning_rate: float = Field(gt=0, description="AdamW learning rate (paper: 1e-6).")
    lr_scheduler_type: Literal["constant", "linear", "cosine", "constant_with_warmup"] = Field(
        description="Learning-rate schedule."
    )
    warmup_steps: int = Field(ge=0, description="Linear warm-up steps.")
    beta: float = Field(
        ge=0,
        description="KL coefficient against the reference model (paper: 0.04); > 0 loads a "
        "reference copy (or disables the LoRA adapter to get it).",
    )
    num_generations: int = Field(ge=2, description="Completions sampled per prompt (group size).")
    per_device_train_batch_size: int = Field(
        gt=0,
        description="Completions per device per step; times processes and accumulation steps it "
        "must be a multiple of num_generations.",
    )
    gradient_accumulation_steps: int = Field(gt=0, description="Micro-batches per update.")
    num_iterations: int = Field(gt=0, description="Updates per generation batch (GRPO's mu).")
    max_steps: int = Field(description="Optimiser steps; -1 trains num_train_epochs instead.")
    num_train_epochs: float = Field(gt=0, description="Epochs when max_steps is -1.")
    max_completion_length: int = Field(gt=0, description="Completion tokens per sample.")
    temperature: float = Field(gt=0, description="Sampling temperature of the rollouts.")
    top_p: float = Field(gt=0, le=1, description="Nucleus sampling mass.")
    top_k: int = Field(
        ge=0,
        description="Top-k sampling; 0 = off. Set explicitly: Qwen2.5-VL's generation config "
        "ships top_k=1, which would make every completion of a group identical.",
    )
    loss_type: Literal["grpo", "dr_grpo", "dapo", "bnpo", "cispo", "sapo"] = Field(
        description="TRL loss aggregation (paper-era GRPO: grpo)."
    )
    scale_rewards: Literal["group", "batch", "none"] = Field(
        description="Advantage scaling by the reward std of the group, the batch, or none."
    )
    epsilon: float = Field(gt=0, description="PPO-style clipping range.")
    reward_weights: RewardWeightsConfig
    use_vllm: bool = Field(description="Generate rollouts with vLLM (GPU only).")
    vllm_mode: Literal["colocate", "server"] = Field(
        description="vLLM in the training processes (colocate) or a separate `trl vllm-serve`."
    )
    vllm_gpu_memory_utilization: float = Field(
        gt=0, le=1, description="GPU memory share vLLM may take in colocate mode."
    )
    vllm_max_model_length: int | None = Field(
        gt=0,
        description="Longest prompt + completion vLLM sizes its KV cache for (system prompt + "
        "question + image tokens + max_completion_length); null = the model's full context "
        "(128k for Qwen2.5-VL-7B, far more KV cache than GRPO needs).",
    )
    vllm_enable_sleep_mode: bool = Field(
        description="Colocate mode: offload vLLM's weights and KV cache while the trainer runs "
        "the optimizer step (less GPU memory, a reload per step)."
    )
    logging_steps: int = Field(gt=0, description="Log scalars to MLflow every N steps.")
    completions_table_steps: int = Field(
        gt=0, description="Log a table of sampled completions and rewards every N steps."
    )
    save_steps: int = Field(gt=0, description="Write a checkpoint every N steps.")
    save_total_limit: int = Field(gt=0, description="Keep at most this many checkpoints.")
    launcher: LauncherConfig
    lora: GRPOLoraConfig
    cold_start: ColdStartConfig
    eval: GRPOEvalConfig

    @model_validator(mode="after")
    def _check(self) -> GRPOConfig:
        if self.min_pixels > self.max_pixels:
            raise ValueError(f"min_pixels ({self.min_pixels}) > max_pixels ({self.max_pixels})")
        if self.max_steps == 0 or self.max_steps < -1:
            raise ValueError(f"max_steps must be -1 (use epochs) or > 0, got {self.max_steps}")
        if self.reward_weights.detection == 0 and self.reward_weights.format == 0:
            raise ValueError("reward_weights: at least one weight must be > 0")
        return self
