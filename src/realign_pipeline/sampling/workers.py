"""Sample or caption on every device: N workers, one `--shard i/N` slice each, then a merge.

`realign sample` calls `plan_workers` with its params section; when that gives more than one
worker, it re-executes itself once per worker (`worker_commands`, started together through
`launch.run_parallel`, each pinned to its GPU(s) with `CUDA_VISIBLE_DEVICES`) and then merges in
its own process (`run_sample` with the whole plan, which finds every key present and only writes
the table). So `dvc repro`, the Prefect task and a Kubernetes job all get the same N engines.

A worker that dies leaves the shard files of its finished batches; rerunning the command
generates only the missing keys (the table is identical to one uninterrupted process).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from realign_pipeline import stage_env
from realign_pipeline.config.sample import CaptionConfig, SampleConfig
from realign_pipeline.errors import ConfigError, RealignError
from realign_pipeline.launch import cli_command, run_parallel, visible_gpus

logger = logging.getLogger(__name__)

__all__ = ["WorkerFailed", "WorkerPlan", "plan_workers", "run_workers", "visible_gpus"]

# Environment of every worker: not the caller's MLflow run (a nested one under it instead), no
# writes to the caller's progress or result file, and its result JSON on stderr (stdout: the
# merge's only).
# A forced rerun discards the shards once, before the workers start (the caller's job): a worker
# that discarded them itself would delete its siblings' fresh shards.
_WORKER_ENV = {
    stage_env.RUN_ID: "",
    stage_env.PROGRESS_FILE: "",
    stage_env.RESULT_FILE: "",
    stage_env.RESULT_TO_STDERR: "1",
    stage_env.FORCE: "",
}


class WorkerFailed(RealignError):
    """A sampling worker exited with an error; its finished batches are kept for a rerun."""


@dataclass(frozen=True)
class WorkerPlan:
    """How many workers run, and the extra environment of each (its GPUs)."""

    count: int
    envs: tuple[dict[str, str], ...]


def plan_workers(
    cfg: SampleConfig | CaptionConfig, section: str, gpus: Sequence[str] | None = None
) -> WorkerPlan:
    """Resolve `<section>.num_workers` against the devices.

    On CUDA each worker gets its own `gpus_per_worker` GPUs (vLLM's tensor_parallel_size, else
    1); `auto` is as many workers as that fills. On CPU `auto` is 1, and N > 1 runs N CPU
    processes (useful for tests; each uses `cpu_threads` threads).

    Raises:
        ConfigError: more workers than GPUs, or a device index with several workers.
    """
    if not cfg.device.startswith("cuda"):
        count = 1 if cfg.num_workers == "auto" else cfg.num_workers
        return WorkerPlan(count, tuple({} for _ in range(count)))
    gpus = list(visible_gpus() if gpus is None else gpus)
    per = cfg.vllm.tensor_parallel_size if cfg.backend == "vllm" else 1
    available = len(gpus) // per
    count = max(available, 1) if cfg.num_workers == "auto" else cfg.num_workers
    if count == 1:
        return WorkerPlan(1, ({},))
    if cfg.device != "cuda":
        raise ConfigError(
            f"{section}.device is {cfg.device!r} (one GPU) with {count} workers: set "
            f"{section}.device: cuda, each worker is pinned to its own GPU"
        )
    if count > available:
        raise ConfigError(
            f"{section}.num_workers: {count} workers x {per} GPU(s) each need {count * per} "
            f"GPUs, {len(gpus)} visible ({','.join(gpus) or 'none'}); lower "
            f"{section}.num_workers or use auto"
        )
    envs = tuple(
        {"CUDA_VISIBLE_DEVICES": ",".join(gpus[i * per : (i + 1) * per])} for i in range(count)
    )
    return WorkerPlan(count, envs)


def run_workers(
    cli_args: Sequence[str], plan: WorkerPlan, *, parent_run_id: str | None = None
) -> None:
    """Run `realign CLI_ARGS --shard i/N` for every worker at once and wait.

    A command with an explicit `--shard i/N` (N > 1) is one worker: it never starts workers.

    Raises:
        WorkerFailed: a worker exited non-zero (the others' shards are kept; rerun to resume).
    """
    commands = [cli_command(*cli_args, "--shard", f"{i}/{plan.count}") for i in range(plan.count)]
    tracking = {stage_env.PARENT_RUN_ID: parent_run_id} if parent_run_id else {}
    envs = [{**_WORKER_ENV, **tracking, **env} for env in plan.envs]
    logger.info("starting %d sampling workers", plan.count)
    codes = run_parallel(commands, envs)
    failed = [f"{i}/{plan.count} (exit {code})" for i, code in enumerate(codes) if code != 0]
    if failed:
        raise WorkerFailed(
            f"sampling worker(s) {', '.join(failed)} failed (see their output above); the "
            "batches they finished are kept: rerun the same command to generate only the rest"
        )
