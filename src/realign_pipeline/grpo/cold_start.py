"""Optional cold start: a short TRL `SFTTrainer` run on format examples before GRPO.

A random (tiny) model never writes `<think>…</think><answer>…</answer>`, so all rewards are 0 and
GRPO's advantages vanish. As in R1-style pipelines, a few supervised examples of the format give
GRPO a policy whose rewards vary. The result is saved as a model folder and GRPO starts from it,
so it is also GRPO's reference model (TRL rebuilds the reference from the folder when beta > 0).
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

import pandas as pd

from realign_pipeline.config.grpo import GRPOConfig
from realign_pipeline.grpo.data import create_sft_dataset, select_balanced
from realign_pipeline.grpo.publish import distributed_state, publish_model
from realign_pipeline.grpo.trainer_config import create_sft_args

__all__ = ["run_cold_start"]

logger = logging.getLogger(__name__)


def run_cold_start(
    model_source: str,
    processor: Any,
    rows: pd.DataFrame,
    data_root: str | Path,
    out_dir: Path,
    cfg: GRPOConfig,
    *,
    system_prompt: str | None,
    seed: int,
) -> tuple[Path, float]:
    """Fine-tune `model_source` on format examples and save it to `out_dir` (atomically).

    Called on every process of a multi-process launch (training and saving are collective).

    Returns:
        `(out_dir, final_train_loss)`.
    """
    from transformers import AutoModelForImageTextToText
    from trl import SFTTrainer

    from realign_pipeline.models.vlm import resolve_dtype

    examples = select_balanced(rows, cfg.cold_start.num_examples, seed)
    dataset = create_sft_dataset(examples, data_root, system_prompt)
    model = AutoModelForImageTextToText.from_pretrained(
        model_source, dtype=resolve_dtype(cfg.dtype)
    )
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    scratch = out_dir.parent / ".cold_start.trainer"  # same path on every process
    trainer = SFTTrainer(
        model=model,
        args=create_sft_args(cfg, scratch, seed=seed),
        train_dataset=dataset,
        processing_class=processor,
    )
    result = trainer.train()
    publish_model(trainer, out_dir, processor, lora_base=None, dtype=cfg.dtype)
    if distributed_state().is_main_process:
        shutil.rmtree(scratch, ignore_errors=True)
    logger.info(
        "cold start: %d examples, loss %.4f -> %s", len(examples), result.training_loss, out_dir
    )
    return out_dir, float(result.training_loss)
