"""The evaluate stage: score the exported detector on every benchmark, write metrics and report.

Reads:  `<detector>/` (detector.json + detector.safetensors), `<manifests>/bench-<name>.parquet`
        for each name in `evaluate.benchmarks`, and the images under `<data_root>`.
Writes: `<out>/predictions.parquet` (image_id, benchmark, generator, category, label, p_fake,
        perturbation), `<out>/failures.parquet` (images that could not be scored, with a reason),
        `<out>/metrics.json` (every number: per benchmark, condition and generator),
        `<out>/generators.csv` (the same per generator, one row per benchmark/condition/generator),
        `<out>/report.md`, `<out>/plots/` (see `plots.py`), and for `dvc metrics` the headline
        numbers (`realign_pipeline.headline`): `<metrics>` (metrics/eval.json: mAcc, mAP,
        best-threshold acc, ECE per benchmark) and `<robustness>` (metrics/robustness.json: mAcc
        per benchmark and perturbation).

Run it with `realign evaluate` (see docs/evaluate.md).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from realign_pipeline.atomic import (
    atomic_dir,
    atomic_write_json,
    atomic_write_parquet,
    atomic_write_text,
)
from realign_pipeline.config.evaluate import EvaluateConfig
from realign_pipeline.cpu_threads import set_cpu_threads
from realign_pipeline.errors import MissingInputError
from realign_pipeline.evaluate.metrics import summarise_predictions
from realign_pipeline.evaluate.perturb import Perturbation, create_perturbations
from realign_pipeline.evaluate.plots import GENERATORS_FILE, generator_table, write_plots
from realign_pipeline.evaluate.predict import (
    FAILURE_SCHEMA,
    PREDICTION_SCHEMA,
    ScoreFn,
    predict_benchmark,
)
from realign_pipeline.evaluate.preprocess import Preprocess, create_preprocess
from realign_pipeline.evaluate.report import render_report
from realign_pipeline.headline import eval_headline, flatten, robustness_headline
from realign_pipeline.manifest import (
    TRAIN_FILE,
    benchmark_file,
    read_manifest,
    read_missing_benchmarks,
)
from realign_pipeline.results import StageResult
from realign_pipeline.tracking import Tracker

__all__ = ["evaluate_scorer", "flat_metrics", "run_evaluate"]

logger = logging.getLogger(__name__)

_SORT = ["generator", "category", "label", "image_id", "path"]


def _train_generators(manifests: Path) -> list[str] | None:
    """The generators of the train manifest beside the benchmarks (None: no train manifest), so
    mAcc can be split into generators training saw and those it never saw."""
    path = manifests / TRAIN_FILE
    if not path.is_file():
        logger.info("no %s: mAcc is not split into seen and unseen generators", path)
        return None
    return sorted(read_manifest(path)["generator"].astype(str).unique())


def _read_benchmarks(
    manifests: Path, names: list[str]
) -> tuple[dict[str, pd.DataFrame], list[str]]:
    """Each benchmark's manifest, and the optional ones ingest skipped (folder missing).

    Raises:
        MissingInputError: a manifest is missing, or every benchmark was skipped.
    """
    frames, missing, skipped = {}, [], set(read_missing_benchmarks(manifests))
    for name in names:
        if name in skipped and not (manifests / benchmark_file(name)).exists():
            logger.warning("benchmark %s: skipped at ingest (optional, folder missing)", name)
            missing.append(name)
            continue
        frame = read_manifest(manifests / benchmark_file(name))
        frames[name] = frame.sort_values(_SORT, kind="stable").reset_index(drop=True)
        logger.info("benchmark %s: %d images", name, len(frame))
    if not frames:
        raise MissingInputError(f"no benchmark to evaluate: {missing} were missing at ingest")
    return frames, missing


def _write_predictions(
    frames: dict[str, pd.DataFrame],
    path: Path,
    *,
    score: ScoreFn,
    preprocess: Preprocess,
    perturbations: list[Perturbation],
    data_root: Path,
    cfg: EvaluateConfig,
    progress: Callable[[int, int], Any] | None,
) -> list[dict]:
    """Stream every benchmark's predictions into one parquet file; return the failures."""
    failures: list[dict] = []
    total = sum(len(frame) for frame in frames.values())
    done = [0]

    def on_batch(n: int) -> None:
        done[0] += n
        if progress is not None:
            progress(done[0], total)

    with pq.ParquetWriter(path, PREDICTION_SCHEMA, compression="zstd") as writer:

        def sink(batch: pd.DataFrame) -> None:
            table = pa.Table.from_pandas(batch, schema=PREDICTION_SCHEMA, preserve_index=False)
            writer.write_table(table)

        for name, frame in frames.items():
            failures += predict_benchmark(
                frame,
                name,
                score=score,
                data_root=data_root,
                perturbations=perturbations,
                preprocess=preprocess,
                batch_size=cfg.batch_size,
                num_workers=cfg.num_workers,
                device=cfg.device,
                max_pixels=cfg.max_pixels,
                sink=sink,
                on_batch=on_batch,
            )
    return failures


def _read_scores(path: Path) -> pd.DataFrame:
    """The columns the metrics need, string columns dictionary-encoded (about 10 bytes a row)."""
    columns = ["benchmark", "perturbation", "generator", "label", "p_fake"]
    table = pq.read_table(path, columns=columns, read_dictionary=columns[:3])
    return table.to_pandas()


def flat_metrics(metrics: dict[str, dict[str, dict]]) -> dict[str, float]:
    """MLflow metrics: the headline (`<bench>.macc`, `<bench>.<condition>.macc`, ...) and the
    per-generator detail (`<bench>.<condition>.<gen>.acc`)."""
    flat = {**flatten(eval_headline(metrics)), **flatten(robustness_headline(metrics))}
    for bench, conditions in metrics.items():
        for cond, m in conditions.items():
            for gen, g in m["generators"].items():
                for key in ("acc", "real_acc", "fake_acc", "ap"):
                    if g[key] is not None:
                        flat[f"{bench}.{cond}.{gen}.{key}"] = g[key]
    return flat


def evaluate_scorer(
    score: ScoreFn,
    preprocess: Preprocess,
    manifests: Path,
    data_root: Path,
    out_dir: Path,
    metrics_path: Path,
    cfg: EvaluateConfig,
    *,
    robustness_path: Path | None = None,
    tracker: Tracker | None = None,
    progress: Callable[[int, int], Any] | None = None,
) -> StageResult:
    """Evaluate any p_fake scorer with a fixed preprocessing (the body of `run_evaluate`)."""
    tracker = tracker or Tracker()
    frames, missing = _read_benchmarks(Path(manifests), cfg.benchmarks)
    perturbations = create_perturbations(cfg.perturbations)
    with atomic_dir(out_dir) as tmp:
        failures = _write_predictions(
            frames,
            tmp / "predictions.parquet",
            score=score,
            preprocess=preprocess,
            perturbations=perturbations,
            data_root=Path(data_root),
            cfg=cfg,
            progress=progress,
        )
        failure_table = pa.Table.from_pylist(
            [{k: f[k] for k in FAILURE_SCHEMA.names} for f in failures], schema=FAILURE_SCHEMA
        )
        atomic_write_parquet(tmp / "failures.parquet", failure_table)
        predictions = _read_scores(tmp / "predictions.parquet")
        metrics = summarise_predictions(
            predictions,
            threshold=cfg.threshold,
            ece_bins=cfg.ece_bins,
            seen_generators=_train_generators(Path(manifests)),
        )
        failed = {name: sum(f["benchmark"] == name for f in failures) for name in frames}
        document = {"benchmarks": metrics, "failed_images": failed, "missing_benchmarks": missing}
        atomic_write_json(tmp / "metrics.json", document)
        atomic_write_text(tmp / GENERATORS_FILE, generator_table(metrics).to_csv(index=False))
        report = render_report(
            metrics,
            failed,
            condition_order=[p.name for p in perturbations],
            preprocessing=cfg.preprocessing,
            threshold=cfg.threshold,
            missing=missing,
        )
        atomic_write_text(tmp / "report.md", report)
        write_plots(predictions, metrics, perturbations, tmp)
    headline, robustness = eval_headline(metrics), robustness_headline(metrics)
    atomic_write_json(metrics_path, headline)
    if robustness_path is not None:
        atomic_write_json(robustness_path, robustness)
    tracker.log_artifact(out_dir / "plots", "plots")
    tracker.log_artifact(out_dir / "report.md")
    tracker.log_metrics(flat_metrics(metrics))
    if missing:
        tracker.set_tags({"realign.missing_benchmarks": ",".join(missing)})
    n_images = sum(len(f) for f in frames.values())
    return StageResult(
        stage="evaluate",
        outputs={
            "eval": str(out_dir),
            "metrics": str(metrics_path),
            "report": str(out_dir / "report.md"),
        },
        counts={
            "images": n_images,
            "scored": n_images - len(failures),
            "failed": len(failures),
            "conditions": len(perturbations),
        },
        metrics={**flatten(headline), **flatten(robustness)},
        extra={"missing_benchmarks": missing},
    )


def detector_preprocess(spec: Any, cfg: EvaluateConfig) -> Preprocess:
    """The `cfg.preprocessing` policy for a detector with spec `spec` (a `DetectorSpec`)."""
    from realign_pipeline.detector import create_model_transform

    return create_preprocess(
        cfg.preprocessing,
        image_size=spec.image_size,
        mean=spec.mean,
        std=spec.std,
        resize_scale=cfg.resize_scale,
        model_transform=create_model_transform(spec) if cfg.preprocessing == "model" else None,
    )


def run_evaluate(
    detector_dir: Path,
    manifests: Path,
    data_root: Path,
    out_dir: Path,
    metrics_path: Path,
    cfg: EvaluateConfig,
    *,
    robustness_path: Path | None = None,
    tracker: Tracker | None = None,
    progress: Callable[[int, int], Any] | None = None,
) -> StageResult:
    """Load the exported detector and evaluate it on every benchmark of `cfg`.

    Raises:
        MissingInputError: the detector folder or a benchmark manifest is missing.
        InputError: the detector or a manifest cannot be used.
    """
    from realign_pipeline.detector import load_detector

    set_cpu_threads(cfg.cpu_threads)
    detector = load_detector(detector_dir, device=cfg.device)
    result = evaluate_scorer(
        detector.predict_proba,
        detector_preprocess(detector.spec, cfg),
        manifests,
        data_root,
        out_dir,
        metrics_path,
        cfg,
        robustness_path=robustness_path,
        tracker=tracker,
        progress=progress,
    )
    if tracker is not None and tracker.enabled:
        from realign_pipeline.tracking.registry import record_evaluation

        # link the run to the registered version it scored; champion = best primary mAcc
        present = [b for b in cfg.benchmarks if b not in result.extra["missing_benchmarks"]]
        primary = f"{present[0]}.macc"
        record_evaluation(
            tracker, detector_dir, result.metrics, primary, cfg.model_dump(mode="json")
        )
    return result
