"""Detection metrics as AIGCDetectBenchmark computes them, plus best-threshold accuracy and ECE.

AIGCDetectBenchmark's `validate` (per generator folder, categories pooled): `acc =
accuracy_score(y, p > 0.5)`, `r_acc` on label 0 only, `f_acc` on label 1 only, `ap =
average_precision_score(y, p)`; the paper's mAcc is the plain (unweighted) mean of the
per-generator acc, mAP the plain mean of the per-generator AP.

Seen / unseen: `macc_seen` is the mAcc over the benchmark generators that also occur in the
train manifest, `macc_unseen` over the others (the generalisation figure); `None` when the train
generators are not known or a group is empty.

Undefined values are `None` (null in JSON), never a crash:
- `real_acc` / `fake_acc` when the generator has no image of that class;
- `ap` when only one class is present (sklearn would warn and return a meaningless 0 or 1);
  mAP then averages the generators where AP is defined, and `n_ap_undefined` says how many
  were left out.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, average_precision_score, roc_curve

__all__ = [
    "compute_best_threshold",
    "compute_ece",
    "compute_generator_metrics",
    "compute_roc",
    "compute_summary",
    "summarise_predictions",
]


def _none_if_nan(value: float) -> float | None:
    return None if value is None or math.isnan(value) else float(value)


def compute_best_threshold(labels: np.ndarray, p_fake: np.ndarray) -> tuple[float, float]:
    """The accuracy at the best threshold (an oracle: reported, never used to tune).

    Candidate rules are `p >= t` for every distinct score t, plus "nothing is fake".

    Returns:
        (best accuracy, threshold t); t is +inf when calling everything real is best.
    """
    labels = np.asarray(labels).astype(int)
    scores = np.asarray(p_fake, dtype=np.float64)
    if scores.size == 0:
        return math.nan, math.nan
    real = np.sort(scores[labels == 0])
    fake = np.sort(scores[labels == 1])
    candidates = np.append(np.unique(scores), np.inf)
    real_correct = np.searchsorted(real, candidates, side="left")  # real with p < t
    fake_correct = fake.size - np.searchsorted(fake, candidates, side="left")  # fake with p >= t
    accuracy = (real_correct + fake_correct) / scores.size
    best = int(np.argmax(accuracy))  # first maximum: the lowest threshold reaching it
    return float(accuracy[best]), float(candidates[best])


def compute_ece(labels: np.ndarray, p_fake: np.ndarray, n_bins: int) -> float:
    """Expected calibration error of the predicted class's confidence, equal-width bins.

    confidence = max(p, 1 - p), correct = (p > 0.5) == label; ECE = sum over bins of
    |bin| / n * |accuracy(bin) - mean confidence(bin)|. Bins cover [0.5, 1] (binary case).
    """
    labels = np.asarray(labels).astype(int)
    scores = np.asarray(p_fake, dtype=np.float64)
    if scores.size == 0:
        return math.nan
    confidence = np.maximum(scores, 1.0 - scores)
    correct = ((scores > 0.5).astype(int) == labels).astype(np.float64)
    edges = np.linspace(0.5, 1.0, n_bins + 1)
    index = np.clip(np.searchsorted(edges, confidence, side="right") - 1, 0, n_bins - 1)
    ece = 0.0
    for b in range(n_bins):
        mask = index == b
        if mask.any():
            ece += mask.mean() * abs(correct[mask].mean() - confidence[mask].mean())
    return float(ece)


def compute_generator_metrics(
    labels: np.ndarray, p_fake: np.ndarray, *, threshold: float, ece_bins: int
) -> dict[str, float | int | None]:
    """acc, real_acc, fake_acc, ap (AIGCDetectBenchmark) plus best_acc, best_threshold, ece."""
    labels = np.asarray(labels).astype(int)
    scores = np.asarray(p_fake, dtype=np.float64)
    predicted = scores > threshold
    real, fake = labels == 0, labels == 1
    both = bool(real.any() and fake.any())
    best_acc, best_threshold = compute_best_threshold(labels, scores)
    return {
        "n_real": int(real.sum()),
        "n_fake": int(fake.sum()),
        "acc": _none_if_nan(accuracy_score(labels, predicted)) if labels.size else None,
        "real_acc": float(accuracy_score(labels[real], predicted[real])) if real.any() else None,
        "fake_acc": float(accuracy_score(labels[fake], predicted[fake])) if fake.any() else None,
        "ap": float(average_precision_score(labels, scores)) if both else None,
        "best_acc": _none_if_nan(best_acc),
        "best_threshold": None if not math.isfinite(best_threshold) else best_threshold,
        "ece": _none_if_nan(compute_ece(labels, scores, ece_bins)),
    }


def _mean_defined(values: Iterable[float | None]) -> float | None:
    defined = [v for v in values if v is not None]
    return float(np.mean(defined)) if defined else None


def compute_summary(
    generators: dict[str, dict[str, float | int | None]],
    labels: np.ndarray,
    p_fake: np.ndarray,
    *,
    ece_bins: int,
    seen_generators: Collection[str] | None = None,
) -> dict[str, float | int | None]:
    """Benchmark-level numbers: mAcc / mAP (plain means over generators) and pooled extras.

    `best_acc` and `ece` are computed on all images of the benchmark pooled; `macc`/`map` are
    the unweighted means of the per-generator values (a generator with 10 images weighs as much
    as one with 10 000, as in the paper's tables). With `seen_generators` (the train manifest's
    generators), `macc_seen` / `macc_unseen` split mAcc by whether training saw the generator.
    """
    best_acc, best_threshold = compute_best_threshold(labels, p_fake)
    seen = set(seen_generators) if seen_generators is not None else None
    return {
        "macc": _mean_defined(g["acc"] for g in generators.values()),
        "macc_seen": None
        if seen is None
        else _mean_defined(g["acc"] for name, g in generators.items() if name in seen),
        "macc_unseen": None
        if seen is None
        else _mean_defined(g["acc"] for name, g in generators.items() if name not in seen),
        "n_seen": None if seen is None else sum(name in seen for name in generators),
        "map": _mean_defined(g["ap"] for g in generators.values()),
        "mean_real_acc": _mean_defined(g["real_acc"] for g in generators.values()),
        "mean_fake_acc": _mean_defined(g["fake_acc"] for g in generators.values()),
        "n_generators": len(generators),
        "n_ap_undefined": sum(g["ap"] is None for g in generators.values()),
        "n_images": int(np.asarray(labels).size),
        "best_acc": _none_if_nan(best_acc),
        "best_threshold": None if not math.isfinite(best_threshold) else best_threshold,
        "ece": _none_if_nan(compute_ece(labels, p_fake, ece_bins)),
    }


def summarise_predictions(
    predictions: pd.DataFrame,
    *,
    threshold: float,
    ece_bins: int,
    seen_generators: Collection[str] | None = None,
) -> dict[str, dict[str, dict]]:
    """Metrics of a predictions table: {benchmark: {perturbation: {summary..., generators}}}.

    Rows are grouped by (benchmark, perturbation, generator); the `category` column is
    ignored, which pools categories per generator as AIGCDetectBenchmark does.
    `seen_generators`: the generators training saw (for macc_seen / macc_unseen).
    """
    result: dict[str, dict[str, dict]] = {}
    for (bench, pert), frame in predictions.groupby(
        ["benchmark", "perturbation"], sort=True, observed=True
    ):
        generators = {
            str(gen): compute_generator_metrics(
                g["label"].to_numpy(),
                g["p_fake"].to_numpy(),
                threshold=threshold,
                ece_bins=ece_bins,
            )
            for gen, g in frame.groupby("generator", sort=True, observed=True)
        }
        summary = compute_summary(
            generators,
            frame["label"].to_numpy(),
            frame["p_fake"].to_numpy(),
            ece_bins=ece_bins,
            seen_generators=seen_generators,
        )
        result.setdefault(str(bench), {})[str(pert)] = {**summary, "generators": generators}
    return result


def compute_roc(labels: np.ndarray, p_fake: np.ndarray) -> pd.DataFrame | None:
    """ROC points (fpr, tpr, threshold) of pooled predictions; None when one class is absent."""
    labels = np.asarray(labels).astype(int)
    if labels.size == 0 or labels.min() == labels.max():
        return None
    fpr, tpr, thresholds = roc_curve(labels, np.asarray(p_fake, dtype=np.float64))
    thresholds = np.where(np.isfinite(thresholds), thresholds, 1.0)  # sklearn's first is inf
    return pd.DataFrame({"fpr": fpr, "tpr": tpr, "threshold": thresholds})
