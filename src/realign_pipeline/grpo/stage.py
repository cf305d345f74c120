"""The grpo stage (AIGI-R1): GRPO training of a VLM to write `<think>…</think><answer>…</answer>`.

Reads the train manifest (and the val manifest for the held-out greedy evaluation) plus the
images under the data root; writes the trained model + processor (safetensors, hub layout) to
`out_dir`, swapped in atomically, and `metrics_path` (JSON). Checkpoints go to
`<checkpoints_dir>/<fingerprint>/grpo/checkpoint-N`, where the fingerprint covers the params,
seed, model and training images, so a rerun after a crash resumes its own run and never a
checkpoint written under other settings; a finished run leaves `complete.json` there, and a
rerun with the same settings (e.g. after a code change) then trains afresh.

Run: `realign grpo` (see `docs/grpo.md`). With `grpo.launcher.num_processes` > 1 the command
re-executes itself under `accelerate launch` (one rank per GPU, the config in
`grpo.launcher.config`); every rank trains, the main rank alone writes and evaluates.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import statistics
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

from realign_pipeline.atomic import atomic_write_json
from realign_pipeline.config.grpo import GRPOConfig
from realign_pipeline.cpu_threads import set_cpu_threads
from realign_pipeline.grpo.data import create_grpo_dataset, load_rows
from realign_pipeline.grpo.evaluate import evaluate_greedy
from realign_pipeline.headline import grpo_headline
from realign_pipeline.prompts import DEFAULT_SYSTEM_PROMPT
from realign_pipeline.results import StageResult
from realign_pipeline.tracking import Tracker

__all__ = ["run_grpo"]

logger = logging.getLogger(__name__)

# Variables that make transformers' MLflowCallback start its own run instead of logging into
# the active one (ours); hidden while training, restored afterwards.
_MLFLOW_RUN_ENV = ("MLFLOW_RUN_ID", "MLFLOW_NESTED_RUN", "MLFLOW_EXPERIMENT_NAME")
COMPLETE_FILE = "complete.json"


def _fingerprint(
    cfg: GRPOConfig, model: str, seed: int, image_ids: list[str], world_size: int
) -> str:
    # the world size too: a checkpoint holds one optimizer/RNG state per rank
    payload = json.dumps(
        {
            "grpo": cfg.model_dump(mode="json"),
            "model": model,
            "seed": seed,
            "images": image_ids,
            "world_size": world_size,
        },
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:12]


@contextmanager
def _mlflow_attached(tracker: Tracker) -> Iterator[None]:
    """Make our run the active MLflow run so TRL's `report_to="mlflow"` logs into it."""
    saved = {k: os.environ.pop(k) for k in _MLFLOW_RUN_ENV if k in os.environ}
    try:
        with tracker.activated():
            yield
    finally:
        os.environ.update(saved)


def prepare_run_dir(run_dir: Path, *, resume: bool) -> bool:
    """Keep an interrupted run's folder for resuming; clear a finished one (or all, no resume).

    A rerun with the same settings after a *finished* run retrains from scratch (the code may
    have changed); only a run without `complete.json` is resumed.

    Returns:
        True when earlier state (checkpoints, cold start) is kept for resuming.
    """
    finished = (run_dir / COMPLETE_FILE).is_file()
    if run_dir.exists() and (finished or not resume):
        logger.info("clearing %s (%s)", run_dir, "finished run" if finished else "--no-resume")
        shutil.rmtree(run_dir)
    return run_dir.exists()


def _last_checkpoint(run_dir: Path) -> str | None:
    from transformers.trainer_utils import get_last_checkpoint

    return get_last_checkpoint(str(run_dir)) if run_dir.is_dir() else None


def _load_model(source: str, dtype: str) -> Any:
    from transformers import AutoModelForImageTextToText

    from realign_pipeline.models.vlm import resolve_dtype

    return AutoModelForImageTextToText.from_pretrained(source, dtype=resolve_dtype(dtype))


def _train(
    policy_source: str,
    processor: Any,
    rows: pd.DataFrame,
    data_root: Path,
    run_dir: Path,
    cfg: GRPOConfig,
    *,
    system_prompt: str | None,
    seed: int,
    resume: bool,
    tracker: Tracker,
    progress: Callable[[int, int], None] | None,
) -> tuple[Any, str | None]:
    """Run GRPOTrainer (on every process); return it, and the checkpoint it resumed from."""
    from trl import GRPOTrainer

    from realign_pipeline.grpo.callbacks import CompletionTableCallback, ProgressCallback
    from realign_pipeline.grpo.rewards import DetectionReward, FormatReward
    from realign_pipeline.grpo.trainer_config import create_grpo_args, create_peft_config

    report_to = "mlflow" if tracker.enabled else "none"
    args = create_grpo_args(cfg, run_dir, seed=seed, report_to=report_to)
    table = CompletionTableCallback(tracker, cfg.completions_table_steps)
    trainer = GRPOTrainer(
        model=_load_model(policy_source, cfg.dtype),
        reward_funcs=[DetectionReward(), FormatReward()],
        args=args,
        train_dataset=create_grpo_dataset(rows, data_root, system_prompt),
        processing_class=processor,
        peft_config=create_peft_config(cfg),
        callbacks=[table, *([ProgressCallback(progress)] if progress else [])],
    )
    table.bind(trainer._logs)  # TRL's record of the latest generation batch (no public API)
    checkpoint = _last_checkpoint(run_dir) if resume else None
    if checkpoint:
        logger.info("resuming from %s", checkpoint)
    with _mlflow_attached(tracker):
        trainer.train(resume_from_checkpoint=checkpoint)
    return trainer, checkpoint


def _train_summary(history: list[dict[str, Any]]) -> dict[str, float]:
    """Final (last logged) reward means, the mean reward of each half of the run (did it rise?),
    median seconds per step, and frac_reward_zero_std (share of groups with no reward variance,
    i.e. no learning signal) per half of the run."""
    steps = [h for h in history if "reward" in h]
    if not steps:
        return {}
    last = steps[-1]
    summary = {
        "train_reward": last["reward"],
        "train_reward_detection": last.get("rewards/detection/mean"),
        "train_reward_format": last.get("rewards/format/mean"),
        "train_steps": float(last.get("step", len(steps))),
    }
    half = max(1, len(steps) // 2)
    summary["train_reward_first_half"] = sum(h["reward"] for h in steps[:half]) / half
    summary["train_reward_second_half"] = sum(h["reward"] for h in steps[-half:]) / half
    times = [h["step_time"] for h in steps if "step_time" in h]
    if times:  # the first step pays one-off costs (allocation, lazy imports)
        summary["train_step_time_s"] = statistics.median(times[1:] or times)
    zero = [h["frac_reward_zero_std"] for h in steps if "frac_reward_zero_std" in h]
    if zero:
        half = max(1, len(zero) // 2)
        summary["frac_reward_zero_std_first_half"] = sum(zero[:half]) / half
        summary["frac_reward_zero_std_second_half"] = sum(zero[-half:]) / half
    return {k: float(v) for k, v in summary.items() if v is not None}


def _peak_gpu_memory() -> dict[str, float]:
    """This rank's peak of torch's CUDA allocator while training, in GB (vLLM's own memory pool
    is not included); nothing without a GPU."""
    import torch

    if not torch.cuda.is_available():
        return {}
    return {"train_peak_gpu_memory_gb": torch.cuda.max_memory_allocated() / 1e9}


def _evaluate(
    source: str,
    processor: Any,
    val_rows: pd.DataFrame,
    data_root: Path,
    cfg: GRPOConfig,
    system_prompt: str | None,
) -> tuple[dict[str, float], pd.DataFrame]:
    """Greedy held-out evaluation of the model in `source`, on the GPU when there is one."""
    import torch

    from realign_pipeline.models.vlm import load_vlm

    device = "cuda" if torch.cuda.is_available() else "cpu"
    model, _ = load_vlm(source, dtype=cfg.dtype, device=device)
    return evaluate_greedy(
        model,
        processor,
        val_rows,
        data_root,
        system_prompt=system_prompt,
        max_new_tokens=cfg.eval.max_new_tokens,
        batch_size=cfg.eval.batch_size,
    )


def run_grpo(
    manifest: str | Path,
    val_manifest: str | Path,
    data_root: str | Path,
    out_dir: str | Path,
    metrics_path: str | Path,
    checkpoints_dir: str | Path,
    cfg: GRPOConfig,
    *,
    seed: int,
    model: str | None = None,
    resume: bool = True,
    tracker: Tracker | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> StageResult:
    """Train AIGI-R1 with GRPO and save the model, metrics and checkpoints.

    Args:
        manifest: Train manifest (both labels required).
        val_manifest: Held-out manifest for the greedy evaluation.
        data_root: Root the manifests' `path` values are relative to.
        out_dir: Model folder to write (replaced atomically).
        metrics_path: headline metrics JSON to write (`grpo_headline`).
        checkpoints_dir: Parent of this run's checkpoint folder.
        cfg: The `grpo` params section.
        seed: Global seed.
        model: Hub id or folder overriding `cfg.model`.
        resume: Resume an interrupted run with the same settings from its last checkpoint
            (and reuse its cold start); False, or a finished run, starts afresh.
        tracker: MLflow run to log into (params, TRL scalars, completion tables).
        progress: Called with `(step, max_steps)` after every GRPO step.

    Raises:
        MissingInputError: a manifest or the model folder does not exist.
        InputError: no usable image, only one class, or an image that no longer decodes.
        ConfigError: TRL rejects the settings.
    """
    from realign_pipeline.grpo.publish import (
        distributed_state,
        finalize_model,
        release_trainer,
        stage_model,
    )
    from realign_pipeline.models.vlm import load_processor

    tracker, state = tracker or Tracker(), distributed_state()
    set_cpu_threads(cfg.cpu_threads)
    data_root, out_dir = Path(data_root), Path(out_dir)
    source = model or cfg.model
    system_prompt = DEFAULT_SYSTEM_PROMPT if cfg.use_system_prompt else None
    rows, rejected = load_rows(manifest, data_root, limit=cfg.max_train_images, seed=seed)
    val_rows, val_rejected = load_rows(
        val_manifest, data_root, limit=cfg.eval.max_images, seed=seed
    )
    processor = load_processor(source, min_pixels=cfg.min_pixels, max_pixels=cfg.max_pixels)
    ids = sorted(rows["image_id"])
    run_dir = Path(checkpoints_dir) / _fingerprint(cfg, source, seed, ids, state.num_processes)
    logger.info("grpo: %d train / %d val images, run dir %s", len(rows), len(val_rows), run_dir)
    if state.is_main_process:
        prepare_run_dir(run_dir, resume=resume)
    state.wait_for_everyone()
    metrics: dict[str, float] = {}
    policy_source = source
    if cfg.cold_start.enabled:
        policy_source, loss = _cold_start(source, processor, rows, data_root, run_dir, cfg, seed)
        metrics["cold_start_loss"] = loss
    trainer, resumed = _train(
        policy_source, processor, rows, data_root, run_dir / "grpo", cfg,
        system_prompt=system_prompt, seed=seed, resume=resume, tracker=tracker, progress=progress,
    )  # fmt: skip
    staging = stage_model(trainer, out_dir)  # a collective step under ZeRO-3
    metrics.update(_train_summary(trainer.state.log_history))
    metrics.update(_peak_gpu_memory())
    release_trainer(trainer)
    del trainer
    counts = {
        "train_images": len(rows),
        "train_rejected": len(rejected),
        "val_images": len(val_rows),
        "val_rejected": len(val_rejected),
    }
    result = StageResult(
        stage="grpo",
        outputs={"model": str(out_dir), "metrics": str(metrics_path), "checkpoints": str(run_dir)},
        counts=counts,
        metrics=metrics,
        extra={
            "resumed": resumed is not None,
            "resumed_from": resumed,
            "model_source": source,
            "policy_source": policy_source,
        },
    )
    if not state.is_main_process:
        # Done: no rank waits at a barrier while the main rank merges and evaluates (that can
        # take longer than the distributed timeout at the paper's sizes).
        logger.info(
            "rank %d: trained and saved; leaving publishing and evaluation to rank 0",
            state.process_index,
        )
        return result
    lora_base = policy_source if cfg.lora.enabled else None
    finalize_model(staging, out_dir, processor, lora_base=lora_base, dtype=cfg.dtype)
    # Only the main rank, after the trainer and vLLM are freed: the published snapshot is what
    # sampling will load, so that is what is evaluated.
    final, predictions = _evaluate(str(out_dir), processor, val_rows, data_root, cfg, system_prompt)
    metrics.update({f"eval_{k}": v for k, v in final.items() if k != "n"})
    if cfg.eval.baseline:  # the untrained model, same images and decoding
        base, _ = _evaluate(source, processor, val_rows, data_root, cfg, system_prompt)
        metrics.update({f"baseline_{k}": v for k, v in base.items() if k != "n"})
    atomic_write_json(metrics_path, grpo_headline(metrics))
    atomic_write_json(run_dir / COMPLETE_FILE, {"model": str(out_dir)})
    tracker.log_table(predictions, artifact_file="eval/greedy_predictions.json")
    return result


def _cold_start(
    source: str,
    processor: Any,
    rows: pd.DataFrame,
    data_root: Path,
    run_dir: Path,
    cfg: GRPOConfig,
    seed: int,
) -> tuple[str, float]:
    """Run (or reuse, after a crash) the cold-start SFT; return its model folder and loss."""
    from realign_pipeline.grpo.cold_start import run_cold_start
    from realign_pipeline.grpo.publish import distributed_state

    out = run_dir / "cold_start"
    marker = run_dir / "cold_start.json"
    if marker.is_file() and (out / "config.json").is_file():
        logger.info("cold start already done: %s", out)
        return str(out), float(json.loads(marker.read_text())["loss"])
    system_prompt = DEFAULT_SYSTEM_PROMPT if cfg.use_system_prompt else None
    path, loss = run_cold_start(
        source, processor, rows, data_root, out, cfg, system_prompt=system_prompt, seed=seed
    )
    if distributed_state().is_main_process:
        atomic_write_json(marker, {"loss": loss})
    return str(path), loss
