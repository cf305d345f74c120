"""The sample stage: reasoning texts (AIGI-R1) or captions (base VLM) for every manifest image.

Reads a manifest (default `artifacts/manifests/train.parquet`) and the images under the data
root; writes shard files, then `samples.parquet` (`captions.parquet` for captions) and
`rejected.parquet` under the output folder, and the metrics JSON. See `store.py` for the columns
and `plan.py` for how keys, batches and `--shard i/n` slices are formed.

Run it with `realign sample` (or `realign sample --task caption`). A rerun after a crash reads the
shards already written, generates only the missing keys and ends with the same table as an
uninterrupted run. A `--shard i/n` worker writes only its slice's shards; the table is written by
whichever run finds every key present (e.g. a final `--shard 0/1` run after all workers).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from realign_pipeline.atomic import atomic_write_json
from realign_pipeline.config.sample import CaptionConfig, SampleConfig
from realign_pipeline.digest import identify_tree
from realign_pipeline.errors import ConfigError, InputError
from realign_pipeline.headline import caption_headline, flatten, sample_headline
from realign_pipeline.images import ImageRejected, load_image
from realign_pipeline.manifest import image_path, read_manifest
from realign_pipeline.prompts import DEFAULT_SYSTEM_PROMPT
from realign_pipeline.results import StageResult
from realign_pipeline.sampling.backend import Backend, GenerationSettings
from realign_pipeline.sampling.plan import (
    Batch,
    ShardSpec,
    WorkUnit,
    build_batches,
    plan_keys,
    plan_work,
    select_images,
)
from realign_pipeline.sampling.records import Task, compute_metrics, make_rejected_row, make_row
from realign_pipeline.sampling.store import (
    REJECTED_SCHEMA,
    SAMPLE_SCHEMA,
    SHARD_SCHEMA,
    ShardStore,
    done_keys,
    merge_rows,
    write_table,
)
from realign_pipeline.tracking import Tracker

logger = logging.getLogger(__name__)

__all__ = ["OUTPUT_FILES", "REJECTED_FILE", "create_backend", "run_sample", "task_prompts"]

OUTPUT_FILES: dict[str, str] = {"reasoning": "samples.parquet", "caption": "captions.parquet"}
STAGE_NAMES: dict[str, str] = {"reasoning": "sample", "caption": "caption"}
HEADLINES = {"reasoning": sample_headline, "caption": caption_headline}  # metrics file content
REJECTED_FILE = "rejected.parquet"
ProgressHook = Callable[[int, int], None]


def task_prompts(
    cfg: SampleConfig | CaptionConfig, task: Task
) -> tuple[list[tuple[str, str]], str | None]:
    """(question id, text) pairs and the system prompt of a task.

    Raises:
        ConfigError: `task` is unknown or does not match the config section given.
    """
    if task == "reasoning" and isinstance(cfg, SampleConfig):
        system = DEFAULT_SYSTEM_PROMPT if cfg.use_system_prompt else None
        return [(q.id, q.text) for q in cfg.questions], system
    if task == "caption" and isinstance(cfg, CaptionConfig):
        return [(cfg.prompt_id, cfg.prompt)], cfg.system_prompt
    raise ConfigError(
        f"task {task!r} with a {type(cfg).__name__}: use task 'reasoning' with the `sample` "
        "section or task 'caption' with the `caption` section"
    )


def _settings(cfg: SampleConfig | CaptionConfig, system_prompt: str | None) -> GenerationSettings:
    return GenerationSettings(
        system_prompt=system_prompt,
        top_p=cfg.top_p,
        top_k=cfg.top_k,
        max_new_tokens=cfg.max_new_tokens,
        dtype=cfg.dtype,
        device=cfg.device,
        cpu_threads=cfg.cpu_threads,
        min_pixels=cfg.min_pixels,
        max_pixels=cfg.max_pixels,
    )


def create_backend(
    model: str, cfg: SampleConfig | CaptionConfig, settings: GenerationSettings
) -> Backend:
    """Load the model with the configured backend (`transformers` or `vllm`)."""
    if cfg.backend == "vllm":
        from realign_pipeline.sampling.vllm_backend import VllmBackend

        return VllmBackend(model, settings, cfg.vllm)
    from realign_pipeline.sampling.transformers_backend import TransformersBackend

    return TransformersBackend(model, settings)


def _fingerprint(
    task: Task,
    model: str,
    cfg: SampleConfig | CaptionConfig,
    questions: list[tuple[str, str]],
    settings: GenerationSettings,
) -> dict[str, Any]:
    """What the stored rows depend on besides their key; a change invalidates the shards."""
    return {
        "task": task,
        # retraining the model (same folder, new weights) starts the shards over; DVC's recorded
        # md5 names a pipeline-built folder without re-reading it (16 GB for the 7B model)
        "model": identify_tree(model) if Path(model).is_dir() else f"hub:{model}",
        "backend": cfg.backend,
        "questions": {qid: text for qid, text in questions},
        "system_prompt": settings.system_prompt,
        "top_p": settings.top_p,
        "top_k": settings.top_k,
        "max_new_tokens": settings.max_new_tokens,
        "batch_size": cfg.batch_size,
        "dtype": settings.dtype,
        "cpu_threads": settings.cpu_threads,
        **settings.pixel_bounds(),
        "shard_columns": SHARD_SCHEMA.names,  # shards of another layout are made again
    }


def _load_images(batch: Batch, data_root: Path) -> tuple[dict[str, Any], dict[str, str]]:
    """Decode each image of a batch once: (image_id -> RGB image, image_id -> reject reason)."""
    images: dict[str, Any] = {}
    rejected: dict[str, str] = {}
    for prompt in batch.prompts:
        if prompt.image_id in images or prompt.image_id in rejected:
            continue
        try:
            images[prompt.image_id] = load_image(image_path(data_root, prompt.path))
        except ImageRejected as exc:
            rejected[prompt.image_id] = exc.reason
        except InputError as exc:  # a manifest path escaping the data root
            rejected[prompt.image_id] = "path_outside_data_root"
            logger.warning("%s", exc)
    for image_id, reason in rejected.items():
        logger.warning("image %s rejected at sample time: %s", image_id, reason)
    return images, rejected


def _generate_unit(
    backend: Backend, unit: WorkUnit, data_root: Path, task: Task, on_rows: Callable[[int], None]
) -> tuple[list[dict[str, Any]], float]:
    """All missing rows of one batch (one backend call per (seed, temperature) group) and the
    seconds spent in those calls (timings stay out of the rows: shards are cached outputs)."""
    images, rejected = _load_images(unit.batch, data_root)
    rows: list[dict[str, Any]] = []
    seconds = 0.0
    for seed, temp, prompts in unit.groups:
        good = [p for p in prompts if p.image_id in images]
        for p in prompts:
            if p.image_id in rejected:
                rows.append(
                    make_rejected_row(
                        p, seed, temp, model_id=backend.model_id, reason=rejected[p.image_id]
                    )
                )
        if good:
            start = time.perf_counter()
            generations = backend.generate(
                [images[p.image_id] for p in good], [p.question for p in good], seed, temp
            )
            seconds += time.perf_counter() - start
            rows.extend(
                make_row(p, seed, temp, g, model_id=backend.model_id, task=task)
                for p, g in zip(good, generations, strict=True)
            )
        on_rows(len(prompts))
    return rows, seconds


class _Progress:
    """tqdm bar (generations/s), progress hook and per-batch MLflow metrics, in one place."""

    def __init__(
        self, total: int, done: int, todo: int, tracker: Tracker, hook: ProgressHook | None
    ) -> None:
        from tqdm.auto import tqdm

        self.total, self.done, self.tracker, self.hook = total, done, tracker, hook
        self.generated = 0
        self.start = time.perf_counter()
        self.bar = tqdm(total=todo, unit="gen", desc="sample", disable=None, dynamic_ncols=True)
        self._notify()

    def _notify(self) -> None:
        if self.hook is not None:
            self.hook(self.done, self.total)

    def advance(self, n: int) -> None:
        """`n` more keys are done (generated or rejected)."""
        self.done += n
        self.generated += n
        self.bar.update(n)
        self._notify()

    def batch_done(self, rows: list[dict[str, Any]]) -> None:
        """Log running metrics after a batch's shard file is written."""
        elapsed = time.perf_counter() - self.start
        ok = [r for r in rows if r["error"] is None]
        metrics = {
            "progress_done": float(self.done),
            "progress_fraction": self.done / self.total if self.total else 1.0,
            "running_generations_per_s": self.generated / elapsed if elapsed > 0 else 0.0,
        }
        if ok:
            metrics["batch_format_rate"] = sum(r["format_ok"] for r in ok) / len(ok)
        self.tracker.log_metrics(metrics, step=self.done)

    def close(self) -> None:
        """Close the bar."""
        self.bar.close()


def _run_units(
    units: list[WorkUnit],
    backend: Backend,
    store: ShardStore,
    data_root: Path,
    task: Task,
    progress: _Progress,
) -> tuple[int, int, float]:
    """Generate every unit, writing one shard file per completed batch.

    Returns:
        (rows written, of them generated texts, seconds spent in generate calls).
    """
    written = generated = 0
    seconds = 0.0
    try:
        for unit in units:
            rows, unit_seconds = _generate_unit(backend, unit, data_root, task, progress.advance)
            path = store.write(rows)
            written += len(rows)
            generated += sum(r["error"] is None for r in rows)
            seconds += unit_seconds
            logger.debug("batch %d: %d rows -> %s", unit.batch.index, len(rows), path.name)
            progress.batch_done(rows)
    finally:
        progress.close()
    return written, generated, seconds


def run_sample(
    manifest: str | Path,
    data_root: str | Path,
    model: str,
    out_dir: str | Path,
    metrics_path: str | Path,
    cfg: SampleConfig | CaptionConfig,
    *,
    task: Task = "reasoning",
    shard: ShardSpec | None = None,
    tracker: Tracker | None = None,
    progress: ProgressHook | None = None,
    backend: Backend | None = None,
    fresh: bool = False,
) -> StageResult:
    """Generate every missing key of this shard's slice, then merge when the plan is complete.

    Args:
        manifest: Manifest parquet of the images to describe.
        data_root: Root the manifest's `path` column is relative to.
        model: Hub id or model folder (AIGI-R1 for reasoning, the base VLM for captions).
        out_dir: Output folder (`artifacts/reasoning` or `artifacts/captions`).
        metrics_path: Metrics JSON (`metrics/sample.json` or `metrics/caption.json`).
        cfg: The `sample` section (task reasoning) or the `caption` section (task caption).
        task: `reasoning` or `caption`.
        shard: This worker's slice (default: the whole plan).
        tracker: MLflow run to log running metrics to.
        progress: Called with (keys done, keys in this slice) as work completes.
        backend: An already loaded backend (default: load `model` with `cfg.backend`).
        fresh: Discard the shards already written and generate every key again (a forced
            rerun); by default a rerun resumes from them.

    Returns:
        A StageResult; `extra["complete"]` says whether the merged table was written.

    Raises:
        ConfigError: task and section do not match, or the vllm backend is not installed.
        MissingInputError / InputError: the manifest is missing or malformed.
    """
    shard = shard or ShardSpec(0, 1)
    tracker = tracker or Tracker()
    out_dir, data_root = Path(out_dir), Path(data_root)
    questions, system_prompt = task_prompts(cfg, task)
    settings = _settings(cfg, system_prompt)
    images = select_images(read_manifest(manifest), cfg.max_images)
    batches = build_batches(images, questions, cfg.batch_size)
    keys = plan_keys(batches, cfg.seeds, cfg.temperatures)
    mine = plan_keys([b for b in batches if shard.owns(b.index)], cfg.seeds, cfg.temperatures)
    store = ShardStore(out_dir, shard)
    stale = store.check_state(_fingerprint(task, model, cfg, questions, settings), fresh=fresh)
    rows, removed = store.read_all()
    done = done_keys(rows)
    units = plan_work(batches, cfg.seeds, cfg.temperatures, done, shard)
    todo = sum(unit.n_keys for unit in units)
    logger.info(
        "%s: %d images x %d questions x %d seeds x %d temperatures = %d keys; shard %s owns %d, "
        "%d to generate",
        task, len(images), len(questions), len(cfg.seeds), len(cfg.temperatures), len(keys),
        shard.name, len(mine), todo,
    )  # fmt: skip
    resumed = bool(mine & done)  # this slice continues from shards written earlier
    bar = _Progress(len(mine), len(mine & done), todo, tracker, progress)
    written, generated, seconds = 0, 0, 0.0
    if units:
        backend = backend or create_backend(model, cfg, settings)
        written, generated, seconds = _run_units(units, backend, store, data_root, task, bar)
        rows, removed_late = store.read_all()
        removed += removed_late
    else:
        bar.close()
    counts = {
        "images": len(images),
        "planned": len(keys),
        "shard_planned": len(mine),
        "generated_now": written,
        "shard_files_removed": removed,
        "stale_shard_files_deleted": stale,
    }
    speed = {"generations_per_s": generated / seconds} if generated and seconds > 0 else {}
    result = _finish(rows, keys, out_dir, Path(metrics_path), task, shard, counts, speed)
    result.extra["resumed"] = resumed
    return result


def _finish(
    rows: pd.DataFrame,
    keys: set[Any],
    out_dir: Path,
    metrics_path: Path,
    task: Task,
    shard: ShardSpec,
    counts: dict[str, int],
    speed: dict[str, float],
) -> StageResult:
    """Merge and write the tables and metrics when every key is present, else report pending.

    `speed` is this call's throughput (absent when it generated nothing: a resumed or complete
    run reports no old figure)."""
    pending = len(keys - done_keys(rows))
    counts["pending"] = pending
    extra: dict[str, Any] = {"task": task, "shard": shard.name, "complete": pending == 0}
    if pending:
        logger.info("%d keys still missing (other shards): table not written yet", pending)
        return StageResult(stage=STAGE_NAMES[task], counts=counts, extra=extra)
    samples, rejected = merge_rows(rows, keys)
    out_file = write_table(out_dir / OUTPUT_FILES[task], samples, SAMPLE_SCHEMA)
    rejected_file = write_table(out_dir / REJECTED_FILE, rejected, REJECTED_SCHEMA)
    counts.update(generated=len(samples), rejected=len(rejected))
    assert counts["generated"] + counts["rejected"] == counts["planned"], counts
    metrics = {**compute_metrics(samples, task), **speed}
    headline = HEADLINES[task](metrics, counts)
    atomic_write_json(metrics_path, headline)
    logger.info("%s: %d rows, %d rejected -> %s", task, len(samples), len(rejected), out_file)
    return StageResult(
        stage=STAGE_NAMES[task],
        outputs={
            "table": str(out_file),
            "rejected": str(rejected_file),
            "metrics": str(metrics_path),
        },
        counts=counts,
        metrics={**metrics, **flatten(headline)},
        extra=extra,
    )
