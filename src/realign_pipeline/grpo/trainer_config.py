"""TRL / PEFT configuration objects built from the `grpo` params section.

The grpo section's TRL keys go to `trl.GRPOConfig` as written; only what the stage owns (output
folder, seed, reporting) is added here. The presets set every TRL default that matters
explicitly (TRL turns on bf16 and gradient checkpointing by default, and Qwen's generation config
ships top_k=1), so a run is described by params.yaml alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from realign_pipeline.config.grpo import GRPOConfig
from realign_pipeline.errors import ConfigError

__all__ = ["create_grpo_args", "create_peft_config", "create_sft_args"]


def _common(output_dir: Path, seed: int, report_to: str) -> dict[str, Any]:
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
        "dataloader_num_workers": 0,
        "remove_unused_columns": False,
        "save_strategy": "steps",
        "disable_tqdm": None,
        "log_completions": False,  # rich console dump; our own table goes to MLflow instead
    }


def create_grpo_args(cfg: GRPOConfig, output_dir: Path, *, seed: int, report_to: str) -> Any:
    """`trl.GRPOConfig` for the run: the section's TRL keys as written; checkpoints go to
    `output_dir`.

    Raises:
        ConfigError: TRL rejects the combination (e.g. batch size not a multiple of the group),
            with TRL's message on one line.
    """
    from trl import GRPOConfig as TRLGRPOConfig

    try:
        return TRLGRPOConfig(**{**_common(output_dir, seed, report_to), **cfg.trl_args})
    except (TypeError, ValueError) as exc:
        message = " ".join(str(exc).split())
        raise ConfigError(f"grpo params rejected by TRL's GRPOConfig: {message}") from None


def create_sft_args(cfg: GRPOConfig, output_dir: Path, *, seed: int) -> Any:
    """`trl.SFTConfig` of the cold start (completion-only loss on the format examples), with
    the GRPO run's precision and checkpointing."""
    from trl import SFTConfig

    common = _common(output_dir, seed, "none")
    del common["log_completions"]
    common.update(save_strategy="no", run_name="grpo-cold-start")
    shared = {k: v for k, v in cfg.trl_args.items() if k in ("bf16", "gradient_checkpointing")}
    return SFTConfig(
        **common,
        **shared,
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
