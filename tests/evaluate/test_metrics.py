"""Metrics against an independent sklearn computation (AIGCDetectBenchmark's `validate`)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, average_precision_score

from realign_pipeline.evaluate.metrics import (
    compute_best_threshold,
    compute_ece,
    compute_generator_metrics,
    compute_roc,
    summarise_predictions,
)


def _predictions() -> pd.DataFrame:
    """Three generators of different sizes; gen_b has two categories; gen_c is fake-only."""
    rng = np.random.default_rng(3)
    rows = []
    for gen, n, cats in (("gen_a", 40, [""]), ("gen_b", 12, ["cat", "dog"]), ("gen_c", 6, [""])):
        for i in range(n):
            label = 1 if gen == "gen_c" else i % 2
            p = float(np.clip(rng.normal(0.35 + 0.3 * label, 0.25), 0.001, 0.999))
            rows.append(
                {
                    "image_id": f"{gen}{i}",
                    "benchmark": "demo",
                    "generator": gen,
                    "category": cats[i % len(cats)],
                    "label": label,
                    "p_fake": p,
                    "perturbation": "none",
                }
            )
    return pd.DataFrame(rows)


def _sklearn_validate(y: np.ndarray, p: np.ndarray) -> dict:
    """AIGCDetectBenchmark's validate(), written independently of the module under test."""
    return {
        "acc": accuracy_score(y, p > 0.5),
        "real_acc": accuracy_score(y[y == 0], p[y == 0] > 0.5),
        "fake_acc": accuracy_score(y[y == 1], p[y == 1] > 0.5),
        "ap": average_precision_score(y, p),
    }


def test_generator_metrics_equal_sklearn_and_categories_are_pooled() -> None:
    df = _predictions()
    result = summarise_predictions(df, threshold=0.5, ece_bins=15)["demo"]["none"]
    for gen in ("gen_a", "gen_b"):  # gen_b pools both categories into one generator
        frame = df[df["generator"] == gen]
        expected = _sklearn_validate(frame["label"].to_numpy(), frame["p_fake"].to_numpy())
        got = result["generators"][gen]
        for key, value in expected.items():
            assert got[key] == pytest.approx(value), (gen, key)
    assert set(result["generators"]) == {"gen_a", "gen_b", "gen_c"}  # no per-category entries
    assert result["generators"]["gen_b"]["n_real"] + result["generators"]["gen_b"]["n_fake"] == 12


def test_one_class_generator_has_undefined_ap_and_real_acc_without_crash() -> None:
    df = _predictions()
    result = summarise_predictions(df, threshold=0.5, ece_bins=15)["demo"]["none"]
    gen_c = result["generators"]["gen_c"]
    frame = df[df["generator"] == "gen_c"]
    assert gen_c["ap"] is None  # documented: AP undefined with one class
    assert gen_c["real_acc"] is None
    assert gen_c["fake_acc"] == pytest.approx(accuracy_score(frame["label"], frame["p_fake"] > 0.5))
    # mAP averages the generators where AP is defined and says how many were left out
    aps = [result["generators"][g]["ap"] for g in ("gen_a", "gen_b")]
    assert result["map"] == pytest.approx(np.mean(aps))
    assert result["n_ap_undefined"] == 1


def test_macc_is_unweighted_mean_over_generators() -> None:
    df = _predictions()
    result = summarise_predictions(df, threshold=0.5, ece_bins=15)["demo"]["none"]
    accs = [result["generators"][g]["acc"] for g in ("gen_a", "gen_b", "gen_c")]
    assert result["macc"] == pytest.approx(np.mean(accs))
    pooled = accuracy_score(df["label"], df["p_fake"] > 0.5)
    assert result["macc"] != pytest.approx(pooled)  # sizes differ: weighting would show


def test_threshold_is_strictly_greater() -> None:
    # p == threshold is real (sigmoid > 0.5), as AIGCDetectBenchmark does
    got = compute_generator_metrics(
        np.array([0, 1]), np.array([0.5, 0.5]), threshold=0.5, ece_bins=10
    )
    assert got["real_acc"] == 1.0 and got["fake_acc"] == 0.0


@pytest.mark.parametrize(
    ("labels", "scores", "best"),
    [
        ([0, 0, 1, 1], [0.1, 0.2, 0.3, 0.4], 1.0),  # separable below 0.5: oracle finds it
        ([0, 1, 0, 1], [0.9, 0.1, 0.8, 0.2], 0.5),  # inverted: nothing beats constant guesses
        ([0, 0, 0, 1], [0.6, 0.7, 0.8, 0.9], 1.0),  # separable above 0.5
        ([0, 0, 0], [0.6, 0.7, 0.8], 1.0),  # one class: call everything real
    ],
)
def test_best_threshold_matches_brute_force(labels: list, scores: list, best: float) -> None:
    y, p = np.array(labels), np.array(scores)
    acc, threshold = compute_best_threshold(y, p)
    brute = max(np.mean((p >= t) == y) for t in [*p, np.inf])
    assert acc == pytest.approx(brute) == pytest.approx(best)
    assert np.mean((p >= threshold) == y) == pytest.approx(acc)


def test_ece_of_hand_computed_case() -> None:
    # confidences 0.9 (correct), 0.9 (wrong), 0.8 (correct), 0.6 (correct); 5 bins over [0.5, 1]
    y = np.array([1, 0, 0, 1])
    p = np.array([0.9, 0.9, 0.2, 0.6])
    # bins: [0.9,1.0] -> {0.9, 0.9}: acc .5 conf .9 -> .4 * 2/4; [0.8,0.9) -> {0.8}: 1 vs .8 ->
    # .2 * 1/4; [0.6,0.7) -> {0.6}: 1 vs .6 -> .4 * 1/4
    expected = 0.4 * 0.5 + 0.2 * 0.25 + 0.4 * 0.25
    assert compute_ece(y, p, n_bins=5) == pytest.approx(expected)
    assert compute_ece(np.array([1, 0]), np.array([1.0, 0.0]), n_bins=5) == pytest.approx(0.0)


def test_conditions_are_summarised_separately() -> None:
    df = _predictions()
    other = df.assign(perturbation="jpeg_q75", p_fake=1 - df["p_fake"])
    result = summarise_predictions(pd.concat([df, other]), threshold=0.5, ece_bins=15)
    assert set(result["demo"]) == {"none", "jpeg_q75"}
    assert result["demo"]["none"]["macc"] != pytest.approx(result["demo"]["jpeg_q75"]["macc"])


def test_roc_is_none_for_one_class_and_monotone_otherwise() -> None:
    assert compute_roc(np.array([1, 1]), np.array([0.2, 0.3])) is None
    curve = compute_roc(np.array([0, 1, 0, 1]), np.array([0.1, 0.9, 0.4, 0.6]))
    assert curve is not None and np.all(np.diff(curve["fpr"]) >= 0)
    assert np.isfinite(curve["threshold"]).all()


def test_macc_is_split_into_generators_training_saw_and_the_others() -> None:
    df = _predictions()
    split = summarise_predictions(df, threshold=0.5, ece_bins=15, seen_generators={"gen_a", "x"})
    gens = split["demo"]["none"]["generators"]
    summary = split["demo"]["none"]
    assert summary["macc_seen"] == pytest.approx(gens["gen_a"]["acc"])  # "x" is not benchmarked
    unseen = (gens["gen_b"]["acc"] + gens["gen_c"]["acc"]) / 2
    assert summary["macc_unseen"] == pytest.approx(unseen)
    assert summary["n_seen"] == 1
    unknown = summarise_predictions(df, threshold=0.5, ece_bins=15)["demo"]["none"]
    assert unknown["macc_seen"] is None and unknown["macc_unseen"] is None  # no train manifest
