"""Headline metrics: what metrics/<stage>.json holds and the flat names MLflow and Prefect use."""

from __future__ import annotations

from realign_pipeline.evaluate.perturb import NONE
from realign_pipeline.headline import (
    CLEAN,
    align_headline,
    eval_headline,
    eval_macc,
    flatten,
    ingest_headline,
    merge,
    review_headline,
    robustness_headline,
    sample_headline,
)


def _condition(macc: float, map_: float | None) -> dict:
    generators = {"gen_a": {"acc": macc, "ap": map_, "n_real": 4, "n_fake": 4}}
    return {"macc": macc, "map": map_, "best_acc": 0.9, "ece": 0.1, "n_images": 8,
            "mean_real_acc": 0.5, "n_ap_undefined": 0, "generators": generators}  # fmt: skip


def test_eval_headline_keeps_benchmark_numbers_and_macc_per_condition() -> None:
    assert CLEAN == NONE
    summary = {
        "demo": {"none": _condition(0.75, 0.8), "jpeg_q75": _condition(0.5, 0.6)},
        "other": {"none": _condition(0.25, None)},  # undefined mAP: left out, not null
    }
    clean, robustness = eval_headline(summary), robustness_headline(summary)
    assert clean == {
        "demo": {"macc": 0.75, "map": 0.8, "best_acc": 0.9, "ece": 0.1},
        "other": {"macc": 0.25, "best_acc": 0.9, "ece": 0.1},
    }
    assert robustness == {"demo": {"jpeg_q75": {"macc": 0.5}}, "other": {}}
    document = merge(clean, robustness)
    assert flatten(document) == {
        "demo.macc": 0.75, "demo.map": 0.8, "demo.best_acc": 0.9, "demo.ece": 0.1,
        "demo.jpeg_q75.macc": 0.5, "other.macc": 0.25, "other.best_acc": 0.9, "other.ece": 0.1,
    }  # fmt: skip
    assert eval_macc(document, "demo", "none") == 0.75
    assert eval_macc(document, "demo", "jpeg_q75") == 0.5
    assert eval_macc(document, "demo", "blur_s1") is None
    assert eval_macc(None, "demo", "none") is None
    assert merge(None, None) is None and merge({"a": {"b": 1}}, None) == {"a": {"b": 1}}


def test_flatten_is_dvc_flattening_of_numbers_only() -> None:
    document = {"a": 1, "b": {"c": 2.5, "d": {"e": 3}}, "flag": True, "name": "x", "n": None}
    assert flatten(document) == {"a": 1.0, "b.c": 2.5, "b.d.e": 3.0}


def test_stage_headlines_leave_timings_and_counters_out() -> None:
    summary = {"seen": 10, "accepted": 9, "rejected": 1, "leakage": 0, "normalised": 2,
               "splits": {"train": 5, "val": 2, "bench-demo": 2}, "generators": {}}  # fmt: skip
    assert ingest_headline(summary) == {
        "accepted": 9, "rejected": 1, "leakage": 0, "train": 5, "val": 2,
    }  # fmt: skip
    metrics = {"accuracy": 0.5, "format_rate": 1.0, "answer_rate": 1.0,
               "generations_per_s": 99.0, "mean_n_tokens": 11.0}  # fmt: skip
    counts = {"generated": 8, "rejected": 0, "generated_now": 3, "shard_files_removed": 1}
    assert sample_headline(metrics, counts) == {
        "accuracy": 0.5, "format_rate": 1.0, "answer_rate": 1.0, "generated": 8, "rejected": 0,
    }  # fmt: skip
    align = {"val_acc": 0.5, "train_time_s": 7.0, "train_images_per_s_last_epoch": 700.0,
             "train_total_last_epoch": 3.9, "epochs": 24.0}  # fmt: skip
    assert align_headline(align) == {"val_acc": 0.5, "train_total_last_epoch": 3.9}
    counts = {"queue": 4, "accepted": 3, "edited": 0, "rejected": 1, "unreviewed": 0, "pairs": 3}
    assert list(review_headline(counts, 0.75)) == [
        "pairs", "accept_rate", "accepted", "edited", "rejected", "unreviewed",
    ]  # fmt: skip
