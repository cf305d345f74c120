"""The MLflow Model Registry: every trained detector is a version of one registered model.

`align` registers each detector it logs as a new version of `realign-detector`, with its lineage
(git commit, detector file hash, the MLflow run that produced its training pairs, and, set by the
Prefect task afterwards, the DVC stage hash) and a summary of the params that define it.
`evaluate` finds the version it scored by the detector's file hash, links it from its run, puts
its headline metrics on it, and moves the `champion` alias by the rule in `CHAMPION_RULE`.

Serve the champion with `mlflow models serve -m models:/realign-detector@champion --env-manager
local` (MLFLOW_TRACKING_URI pointing at the same store).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from realign_pipeline.digest import compute_sha256
from realign_pipeline.tracking.tracker import Tracker, flatten_params, tracking_errors

logger = logging.getLogger(__name__)

MODEL_NAME = "realign-detector"
CHAMPION = "champion"
CHAMPION_RULE = (
    "champion = the version with the highest mAcc on clean images of the primary benchmark "
    "(the first of evaluate.benchmarks); a tie keeps the current champion"
)
# Fields of the align and evaluate sections that change neither the detector nor its score
# (hardware, batching, logging). Every other field defines a variant: it goes on the parent run
# and the model version under its params.yaml name (tests/core/test_tracking.py checks these
# names against the config).
RUNTIME_PARAMS = {
    "align": (
        "device", "num_workers", "cpu_threads", "image_cache_mb", "text_batch_size",
        "eval_batch_size", "logging_steps", "gradient_checkpointing",
    ),
    "evaluate": ("batch_size", "num_workers", "device", "cpu_threads"),
}  # fmt: skip
FINGERPRINT_TAG = "detector.sha256"
VARIANT_TAG = "realign.variant"  # `<preset>[ key=value ...]`, on parent runs and model versions


def variant_params(sections: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    """The variant-defining params of the given sections (`{"align": {...}}`), flattened to
    their params.yaml names (`align.lora.r` -> "6")."""
    return flatten_params(
        {
            section: {k: v for k, v in values.items() if k not in RUNTIME_PARAMS[section]}
            for section, values in sections.items()
        }
    )


def _lineage_from_runs(tracker: Tracker) -> dict[str, str]:
    """`data_run_id`: the `review_import` run that wrote the training pairs (the one under the
    same parent run, else the experiment's latest; '' when unknown), and `realign.variant`: what
    the parent run says the variant is (preset and overrides), when there is a parent."""
    client = tracker.client
    run = client.get_run(tracker.run_id)
    parent = run.data.tags.get("mlflow.parentRunId")
    variant = client.get_run(parent).data.tags.get(VARIANT_TAG, "") if parent else ""
    query = "tags.`realign.stage` = 'review_import'"
    for filter_string in (
        [f"{query} and tags.mlflow.parentRunId = '{parent}'"] if parent else []
    ) + [query]:
        found = client.search_runs(
            [run.info.experiment_id], filter_string, order_by=["start_time DESC"], max_results=1
        )
        if found:
            return {"data_run_id": found[0].info.run_id, VARIANT_TAG: variant}
    return {"data_run_id": "", VARIANT_TAG: variant}


def register_detector(
    tracker: Tracker,
    model_uri: str,
    detector_dir: Path,
    align: Mapping[str, Any],
    metrics: Mapping[str, float],
    lineage: Mapping[str, str],
) -> str | None:
    """Register `model_uri` as a new version of `MODEL_NAME`; its version number, or None.

    Args:
        align: the align params section (summarised into the version's description and tags).
        metrics: the stage's headline metrics (e.g. val_acc), put on the version as tags.
        lineage: provenance tags (git commit, preset).
    """
    if not tracker.active:
        return None
    params = variant_params({"align": align})
    client = tracker.client
    with tracker.guarded():
        if not client.search_registered_models(f"name = '{MODEL_NAME}'"):
            client.create_registered_model(
                MODEL_NAME, description=f"ReAlign AIGI detectors. Alias rule: {CHAMPION_RULE}."
            )
        tags = {
            **lineage,
            **params,
            **_metric_tags(metrics),
            FINGERPRINT_TAG: compute_sha256(detector_dir),
            **_lineage_from_runs(tracker),
        }
        source, model_id = model_uri, None
        if model_uri.startswith("models:/m-"):
            # MLflow's registry resolves a `models:/<model_id>` source through the process's
            # global tracking URI, not this client's: hand it the logged model's location
            model_id = model_uri.removeprefix("models:/")
            source = client.get_logged_model(model_id).artifact_location
        version = client.create_model_version(
            MODEL_NAME,
            source=source,
            model_id=model_id,
            run_id=tracker.run_id,
            tags=tags,
            description=tags[VARIANT_TAG] or ", ".join(f"{k}={v}" for k, v in params.items()),
        )
        tracker.set_tags({"realign.model_version": version.version})
        logger.info("registered the detector as %s version %s", MODEL_NAME, version.version)
        return str(version.version)
    return None


def _metric_tags(metrics: Mapping[str, float]) -> dict[str, str]:
    return {f"metric.{k}": f"{v:.6g}" for k, v in metrics.items()}


def record_evaluation(
    tracker: Tracker,
    detector_dir: Path,
    metrics: Mapping[str, float],
    primary_metric: str,
    evaluate: Mapping[str, Any] | None = None,
) -> str | None:
    """Link the evaluate run to the version it scored, tag it with `metrics`, move `champion`.

    Args:
        metrics: the headline evaluation metrics (`<bench>.macc`, ...).
        evaluate: the evaluate params section (its variant-defining params become tags).
        primary_metric: the metric of `CHAMPION_RULE` (mAcc of the primary benchmark).

    Returns:
        The version scored, or None (tracking off, or a detector no run registered).
    """
    if not tracker.active:
        return None
    fingerprint = compute_sha256(detector_dir)
    client = tracker.client
    with tracker.guarded():
        found = client.search_model_versions(
            f"name = '{MODEL_NAME}' and tags.`{FINGERPRINT_TAG}` = '{fingerprint}'",
            order_by=["version_number DESC"],
        )
        if not found:
            logger.warning(
                "the detector in %s is not registered as %s (was align tracked?); "
                "its evaluation is not linked to a model version",
                detector_dir,
                MODEL_NAME,
            )
            return None
        version = str(found[0].version)
        tags = {
            **_metric_tags(metrics),
            **variant_params({"evaluate": evaluate or {}}),
            "evaluate_run_id": tracker.run_id,
        }
        for key, value in tags.items():
            client.set_model_version_tag(MODEL_NAME, version, key, value)
        moved = _move_champion(client, version, metrics.get(primary_metric), primary_metric)
        uri = f"models:/{MODEL_NAME}/{version}"
        tracker.set_tags({"realign.model_version": version, "realign.model_uri": uri})
        logger.info("evaluated %s%s", uri, " (now the champion)" if moved else "")
        return version
    return None


def _move_champion(client: Any, version: str, score: float | None, metric: str) -> bool:
    """Point `champion` at `version` when it beats the current champion on `metric`."""
    if score is None:
        return False
    try:
        current = client.get_model_version_by_alias(MODEL_NAME, CHAMPION)
    except tracking_errors():  # no champion yet (MLflow raises RESOURCE_DOES_NOT_EXIST)
        current = None
    best = current.tags.get(f"metric.{metric}") if current is not None else None
    if best is not None and str(current.version) != version and float(best) >= score:
        return False
    client.set_registered_model_alias(MODEL_NAME, CHAMPION, version)
    return True


def tag_run_versions(tracker: Tracker, tags: Mapping[str, str]) -> None:
    """Put `tags` (e.g. the DVC stage hash, known once DVC has recorded the stage) on the model
    versions registered from the tracker's run."""
    if not tracker.active:
        return
    with tracker.guarded():
        for version in tracker.client.search_model_versions(f"run_id = '{tracker.run_id}'"):
            for key, value in tags.items():
                tracker.client.set_model_version_tag(version.name, version.version, key, value)
