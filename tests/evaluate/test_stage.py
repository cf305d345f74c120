"""run_evaluate on a tiny exported detector and a small benchmark with a corrupt image."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from realign_pipeline.config.evaluate import EvaluateConfig
from realign_pipeline.errors import MissingInputError
from realign_pipeline.evaluate import evaluate_scorer, run_evaluate
from realign_pipeline.evaluate.metrics import summarise_predictions
from realign_pipeline.evaluate.preprocess import create_preprocess
from realign_pipeline.headline import flatten

CROP = create_preprocess(
    "center_crop", image_size=32, mean=(0.5,) * 3, std=(0.5,) * 3, resize_scale=1.0
)


def _brightness(pixels: torch.Tensor) -> torch.Tensor:
    """A stand-in score: the mean brightness."""
    return torch.sigmoid(pixels.mean(dim=(1, 2, 3)))


def test_run_evaluate_writes_every_output(
    tiny_detector: Path, benchmark_data: tuple, eval_cfg: EvaluateConfig, tmp_path: Path
) -> None:
    root, manifests, frame = benchmark_data
    out, metrics_path = tmp_path / "eval", tmp_path / "metrics" / "eval.json"
    robustness_path = tmp_path / "metrics" / "robustness.json"
    result = run_evaluate(
        tiny_detector, manifests, root, out, metrics_path, eval_cfg,
        robustness_path=robustness_path,
    )  # fmt: skip

    # the corrupt image is recorded and counted; the counts add up
    assert result.counts == {"images": 13, "scored": 12, "failed": 1, "conditions": 4}
    failures = pd.read_parquet(out / "failures.parquet")
    assert failures["path"].tolist() == ["benchmarks/demo/gen_b/1_fake/broken.png"]
    assert failures["reason"].tolist() == ["not_an_image"]

    predictions = pd.read_parquet(out / "predictions.parquet")
    assert list(predictions.columns) == [
        "image_id",
        "benchmark",
        "generator",
        "category",
        "label",
        "p_fake",
        "perturbation",
    ]
    assert len(predictions) == 12 * 4
    assert predictions.groupby("perturbation").size().to_dict() == {
        "none": 12,
        "jpeg_q75": 12,
        "blur_s1": 12,
        "downscale_0.5": 12,
    }
    assert predictions["p_fake"].between(0, 1).all()

    full = json.loads((out / "metrics.json").read_text())
    assert full["failed_images"] == {"demo": 1}
    demo = full["benchmarks"]["demo"]
    assert set(demo) == {"none", "jpeg_q75", "blur_s1", "downscale_0.5"}
    assert set(demo["none"]["generators"]) == {"gen_a", "gen_b"}  # categories pooled
    assert demo["none"]["generators"]["gen_a"]["n_real"] == 4
    expected = summarise_predictions(predictions, threshold=0.5, ece_bins=10)
    assert demo["none"]["macc"] == pytest.approx(expected["demo"]["none"]["macc"])

    # the metrics files hold the headline only, under the names the result (MLflow) uses
    headline = json.loads(metrics_path.read_text())
    assert headline == {"demo": {k: demo["none"][k] for k in ("macc", "map", "best_acc", "ece")}}
    robustness = json.loads(robustness_path.read_text())
    assert robustness == {
        "demo": {c: {"macc": demo[c]["macc"]} for c in ("jpeg_q75", "blur_s1", "downscale_0.5")}
    }
    assert result.metrics == {**flatten(headline), **flatten(robustness)}
    assert {"demo.macc", "demo.jpeg_q75.macc"} <= set(result.metrics)

    generators = pd.read_csv(out / "generators.csv")
    assert len(generators) == 2 * 4  # every generator under every condition
    row = generators[(generators["condition"] == "none") & (generators["generator"] == "gen_a")]
    assert row["acc"].item() == pytest.approx(demo["none"]["generators"]["gen_a"]["acc"])

    report = (out / "report.md").read_text()
    assert "## demo" in report and "| gen_a |" in report and "jpeg_q75" in report
    for name in (
        "accuracy.csv",
        "robustness.csv",
        "roc/demo.csv",
        "accuracy.png",
        "roc.png",
        "robustness.png",
    ):
        assert (out / "plots" / name).stat().st_size > 0, name
    accuracy = pd.read_csv(out / "plots" / "accuracy.csv")
    assert accuracy["name"].tolist() == ["demo/gen_a", "demo/gen_b"]


def test_perturbations_change_scores(
    tiny_detector: Path, benchmark_data: tuple, eval_cfg: EvaluateConfig, tmp_path: Path
) -> None:
    root, manifests, _ = benchmark_data
    run_evaluate(tiny_detector, manifests, root, tmp_path / "e", tmp_path / "m.json", eval_cfg)
    predictions = pd.read_parquet(tmp_path / "e" / "predictions.parquet")
    wide = predictions.pivot(index="image_id", columns="perturbation", values="p_fake")
    for condition in ("jpeg_q75", "blur_s1", "downscale_0.5"):
        assert not np.allclose(wide["none"], wide[condition]), condition


def test_evaluate_is_deterministic(
    tiny_detector: Path, benchmark_data: tuple, eval_cfg: EvaluateConfig, tmp_path: Path
) -> None:
    root, manifests, _ = benchmark_data
    cfg = eval_cfg.model_copy(update={"perturbations": [], "preprocessing": "model"})
    for run in ("a", "b"):
        run_evaluate(tiny_detector, manifests, root, tmp_path / run, tmp_path / f"{run}.json", cfg)
    first = pd.read_parquet(tmp_path / "a" / "predictions.parquet")
    second = pd.read_parquet(tmp_path / "b" / "predictions.parquet")
    pd.testing.assert_frame_equal(first, second)
    assert (tmp_path / "a.json").read_text() == (tmp_path / "b.json").read_text()


def test_one_class_benchmark_does_not_crash(
    benchmark_data: tuple, eval_cfg: EvaluateConfig, tmp_path: Path
) -> None:
    root, manifests, frame = benchmark_data
    frame[frame["label"] == 1].to_parquet(manifests / "bench-fakes.parquet", index=False)
    cfg = eval_cfg.model_copy(update={"benchmarks": ["fakes"], "perturbations": []})
    evaluate_scorer(_brightness, CROP, manifests, root, tmp_path / "e", tmp_path / "m.json", cfg)
    full = json.loads((tmp_path / "e" / "metrics.json").read_text())
    clean = full["benchmarks"]["fakes"]["none"]
    assert clean["map"] is None and clean["n_ap_undefined"] == 2
    headline = json.loads((tmp_path / "m.json").read_text())
    assert "map" not in headline["fakes"]  # undefined: left out of the headline
    assert clean["generators"]["gen_a"]["real_acc"] is None
    assert not (tmp_path / "e" / "plots" / "roc").exists()  # no ROC without both classes


def test_missing_benchmark_manifest_names_the_file(
    tiny_detector: Path, benchmark_data: tuple, eval_cfg: EvaluateConfig, tmp_path: Path
) -> None:
    root, manifests, _ = benchmark_data
    cfg = eval_cfg.model_copy(update={"benchmarks": ["nope"]})
    with pytest.raises(MissingInputError, match="bench-nope.parquet"):
        run_evaluate(tiny_detector, manifests, root, tmp_path / "e", tmp_path / "m.json", cfg)
    assert not (tmp_path / "e").exists()


def test_predictions_stream_in_bounded_batches_with_progress(
    benchmark_data: tuple, eval_cfg: EvaluateConfig
) -> None:
    from realign_pipeline.evaluate.perturb import create_perturbations
    from realign_pipeline.evaluate.predict import predict_benchmark

    root, _, frame = benchmark_data
    conditions = create_perturbations(eval_cfg.perturbations)
    preprocess = create_preprocess(
        "aigcdetect", image_size=16, mean=(0.5,) * 3, std=(0.5,) * 3, resize_scale=1.0
    )
    seen: list[int] = []
    batches: list[int] = []
    failures = predict_benchmark(
        frame,
        "demo",
        score=_brightness,
        data_root=root,
        perturbations=conditions,
        preprocess=preprocess,
        batch_size=3,
        num_workers=0,
        device="cpu",
        max_pixels=10_000_000,
        sink=lambda b: batches.append(len(b)),
        on_batch=seen.append,
    )
    assert seen == [3, 3, 3, 3, 1]  # every image reported once, batch by batch
    assert len(batches) == 4 and max(batches) <= 3 * len(conditions)  # never the whole set
    assert sum(batches) == 12 * len(conditions) and len(failures) == 1


def test_optional_benchmark_missing_at_ingest_is_listed_not_scored(
    benchmark_data: tuple, eval_cfg: EvaluateConfig, tmp_path: Path, monkeypatch
) -> None:
    from mlflow import MlflowClient

    from realign_pipeline.tracking import Tracker

    root, manifests, _ = benchmark_data
    # ingest skipped `ultrasynth` (required: false, folder absent) and said so in summary.json
    (manifests / "summary.json").write_text(json.dumps({"missing_benchmarks": ["ultrasynth"]}))
    cfg = eval_cfg.model_copy(update={"benchmarks": ["demo", "ultrasynth"], "perturbations": []})
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # a file store starts in 1 s, sqlite 10
    uri = (tmp_path / "mlruns").as_uri()
    client = MlflowClient(tracking_uri=uri)
    run = client.create_run(client.create_experiment("e")).info.run_id
    result = evaluate_scorer(
        _brightness, CROP, manifests, root, tmp_path / "e", tmp_path / "m.json", cfg,
        tracker=Tracker(client, run, uri),
    )  # fmt: skip
    full = json.loads((tmp_path / "e" / "metrics.json").read_text())
    assert full["missing_benchmarks"] == ["ultrasynth"] and set(full["benchmarks"]) == {"demo"}
    report = (tmp_path / "e" / "report.md").read_text()
    assert "## Missing benchmarks" in report and "`ultrasynth`" in report
    assert client.get_run(run).data.tags["realign.missing_benchmarks"] == "ultrasynth"
    assert result.extra["missing_benchmarks"] == ["ultrasynth"]
    # a benchmark that ingest did not skip still has to be there
    cfg = cfg.model_copy(update={"benchmarks": ["demo", "nope"]})
    with pytest.raises(MissingInputError, match="bench-nope.parquet"):
        evaluate_scorer(
            _brightness, CROP, manifests, root, tmp_path / "f", tmp_path / "n.json", cfg
        )
