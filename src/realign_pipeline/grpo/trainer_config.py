"""TRL / PEFT configuration objects built from the `grpo` params section.

Every TRL default that matters is set explicitly from params (TRL's GRPOConfig turns on bf16 and
gradient checkpointing by default, and Qwen's generation config ships top_k=1), so a run is
described by params.yaml alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from realign_pipeline.config.grpo import GRPOConfig
from realign_pipeline.errors import ConfigError

__all__ = ["create_grpo_args", "create_peft_config", "create_sft_args"]


def _common(cfg: GRPOConfig, output_dir: Path, seed: int, report_to: str) -> dict[str, Any]:
    import torch

    return {
        # Without a GPU, say so: only then do the ranks of `accelerate launch` join one job
        # (gloo) instead of each training alone.
        "use_cpu": not torch.cuda.is_available(),
        "output_dir": str(output_dir),
        "seed": seed,
        "data_seed": seed,
        "report_to": report_to,
        "run_name": "grpo",
        "bf16": cfg.bf16,
        "fp16": False,
        "gradient_checkpointing": cfg.gradient_checkpointing,
        "dataloader_num_workers": 0,
        "remove_unused_columns": False,
        "save_strategy": "steps",
        "disable_tqdm": None,
    }


def create_grpo_args(cfg: GRPOConfig, output_dir: Path, *, seed: int, report_to: str) -> Any:
    """`trl.GRPOConfig` for the run; checkpoints go to `output_dir`.

    Raises:
        ConfigError: TRL rejects the combination (e.g. batch size not a multiple of the group).
    """
    from trl import GRPOConfig as TRLGRPOConfig

    try:
        return TRLGRPOConfig(
            **_common(cfg, output_dir, seed, report_to),
            learning_rate=cfg.learning_rate,
            lr_scheduler_type=cfg.lr_scheduler_type,
            warmup_steps=cfg.warmup_steps,
            beta=cfg.beta,
            num_generations=cfg.num_generations,
            per_device_train_batch_size=cfg.per_device_train_batch_size,
            gradient_accumulation_steps=cfg.gradient_accumulation_steps,
            num_iterations=cfg.num_iterations,
            max_steps=cfg.max_steps,
            num_train_epochs=cfg.num_train_epochs,
            max_completion_length=cfg.max_completion_length,
            temperature=cfg.temperature,
            top_p=cfg.top_p,
            top_k=cfg.top_k,
            loss_type=cfg.loss_type,
            scale_rewards=cfg.scale_rewards,
            epsilon=cfg.epsilon,
            reward_weights=[cfg.reward_weights.detection, cfg.reward_weights.format],
            use_vllm=cfg.use_vllm,
            vllm_mode=cfg.vllm_mode,
            vllm_gpu_memory_utilization=cfg.vllm_gpu_memory_utilization,
            vllm_max_model_length=cfg.vllm_max_model_length,
            vllm_enable_sleep_mode=cfg.vllm_enable_sleep_mode,
            logging_steps=cfg.logging_steps,
            save_steps=cfg.save_steps,
            save_total_limit=cfg.save_total_limit,
            log_completions=False,  # rich console dump; our own table goes to MLflow instead
        )
    except ValueError as exc:
        raise ConfigError(f"grpo params rejected by TRL's GRPOConfig: {exc}") from None


def create_sft_args(cfg: GRPOConfig, output_dir: Path, *, seed: int) -> Any:
    """`trl.SFTConfig` of the cold start (completion-only loss on the format examples)."""
    from trl import SFTConfig

    common = _common(cfg, output_dir, seed, "none")
    common.update(save_strategy="no", run_name="grpo-cold-start")
    return SFTConfig(
        **common,
        learning_rate=cfg.cold_start.learning_rate,
        num_train_epochs=cfg.cold_start.num_train_epochs,
        per_device_train_batch_size=cfg.cold_start.per_device_train_batch_size,
        lr_scheduler_type="constant",
        logging_steps=1,
        completion_only_loss=True,
        max_length=None,
    )


def create_peft_config(cfg: GRPOConfig) -> Any | None:
    """A PEFT `LoraConfig` when `grpo.lora.enabled`, else None (full fine-tuning)."""
    if not cfg.lora.enabled:
        return None
    from peft import LoraConfig

    return LoraConfig(
        r=cfg.lora.r,
        lora_alpha=cfg.lora.alpha,
        lora_dropout=cfg.lora.dropout,
        target_modules=list(cfg.lora.target_modules),
        task_type="CAUSAL_LM",
    )
