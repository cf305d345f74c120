"""Save a trainer's model as a plain hub-style snapshot, correctly under multi-process training.

Two steps. `stage_model` runs on every process (under DeepSpeed ZeRO-3 saving gathers the sharded
weights, a collective step): the trainer writes to a staging folder on the main process only.
`finalize_model` runs on the main process alone, after `release_trainer` (so a base model loaded
for merging is a plain one, not partitioned by ZeRO-3 while the other ranks have left): it builds
the final folder atomically: LoRA adapters are merged into their base model on CPU, the
processor is added, and the trainer's pickled `training_args.bin` is left out (the published
folder holds safetensors and JSON only). `publish_model` does both, with barriers, for callers
that keep every process to the end (the cold start).
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import Any

from realign_pipeline.atomic import atomic_dir

__all__ = [
    "distributed_state",
    "finalize_model",
    "publish_model",
    "release_trainer",
    "stage_model",
]

logger = logging.getLogger(__name__)

_NOT_PUBLISHED = {"training_args.bin"}


def distributed_state() -> Any:
    """accelerate's process state (single process: main, and barriers are no-ops).

    Without a GPU the ranks of a launched job talk over gloo on CPU (accelerate only picks its
    multi-CPU mode when asked for CPU; the trainer's own state is this same shared object).
    """
    import torch
    from accelerate import PartialState

    return PartialState(cpu=not torch.cuda.is_available())


def _merged(base_source: str, adapter_dir: Path, dtype: str) -> Any:
    from peft import PeftModel
    from transformers import AutoModelForImageTextToText

    from realign_pipeline.models.vlm import resolve_dtype

    base = AutoModelForImageTextToText.from_pretrained(base_source, dtype=resolve_dtype(dtype))
    return PeftModel.from_pretrained(base, str(adapter_dir)).merge_and_unload()


def stage_model(trainer: Any, out_dir: Path) -> Path:
    """Save the trainer's model to the staging folder of `out_dir`; call on every process."""
    state = distributed_state()
    staging = out_dir.parent / f".{out_dir.name}.staging"
    if state.is_main_process and staging.exists():
        shutil.rmtree(staging)  # left by a killed run
    state.wait_for_everyone()
    trainer.save_model(str(staging))
    state.wait_for_everyone()
    return staging


def finalize_model(
    staging: Path, out_dir: Path, processor: Any, *, lora_base: str | None, dtype: str
) -> Path:
    """Turn the staging folder into the snapshot `out_dir` (replaced atomically); main only.

    Args:
        staging: What `stage_model` wrote.
        out_dir: Folder to (re)create; replaced as a whole on success.
        processor: Saved beside the weights.
        lora_base: The adapter's base model folder when the trainer trained LoRA adapters (they
            are merged into it); None for a plain model.
        dtype: Dtype the base is loaded in for merging.
    """
    with atomic_dir(out_dir) as tmp:
        if lora_base is not None:
            _merged(lora_base, staging, dtype).save_pretrained(tmp, safe_serialization=True)
        else:
            for item in staging.iterdir():
                if item.name not in _NOT_PUBLISHED:
                    os.replace(item, tmp / item.name)
        processor.save_pretrained(tmp)
    shutil.rmtree(staging, ignore_errors=True)
    logger.info("published %s%s", out_dir, " (LoRA merged)" if lora_base else "")
    return out_dir


def publish_model(
    trainer: Any, out_dir: Path, processor: Any, *, lora_base: str | None, dtype: str
) -> Path:
    """`stage_model` then `finalize_model` on the main process; call on every process."""
    state = distributed_state()
    staging = stage_model(trainer, out_dir)
    if state.is_main_process:
        finalize_model(staging, out_dir, processor, lora_base=lora_base, dtype=dtype)
    state.wait_for_everyone()
    return out_dir


def release_trainer(trainer: Any) -> None:
    """Free what a finished trainer holds on this process's device (call on every process).

    Drops the colocated vLLM engine (TRL's `vllm_generation.llm`), the prepared models,
    optimizer and DeepSpeed engine (`accelerator.free_memory`, which also empties the CUDA
    cache), and transformers' global DeepSpeed config, so a model loaded afterwards (the main
    rank's evaluation) is a plain one on one GPU and not partitioned by ZeRO-3.
    """
    import gc

    import torch
    from transformers.integrations.deepspeed import unset_hf_deepspeed_config

    generation = getattr(trainer, "vllm_generation", None)
    if generation is not None and getattr(generation, "llm", None) is not None:
        generation.llm = None
    trainer.accelerator.free_memory()
    for name in ("model", "model_wrapped", "ref_model", "optimizer", "lr_scheduler"):
        if hasattr(trainer, name):
            setattr(trainer, name, None)
    unset_hf_deepspeed_config()
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
