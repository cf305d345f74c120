"""`realign evaluate` and `realign ablate` invoked in-process, as dvc.yaml runs them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from realign_pipeline.cli import main
from tests.conftest import argv

REPO_ROOT = Path(__file__).resolve().parents[2]
PARAMS = str(REPO_ROOT / "params.yaml")


def _evaluate(detector: Path, manifests: Path, root: Path, out: Path, *sets: str) -> list[str]:
    """`realign evaluate` on the tiny params with `--set`s, writing under `out`."""
    return argv(
        "evaluate",
        detector=detector,
        manifests=manifests,
        data_root=root,
        out=out / "eval",
        metrics=out / "metrics" / "eval.json",
        robustness=out / "metrics" / "robustness.json",
        params=PARAMS,
        set=list(sets),
    )


def test_evaluate_cli_logs_metrics_plots_and_report_to_mlflow(
    tiny_detector: Path,
    benchmark_data: tuple,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from mlflow.tracking import MlflowClient

    root, manifests, _ = benchmark_data
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    args = _evaluate(
        tiny_detector,
        manifests,
        root,
        tmp_path,
        f"tracking.uri={uri}",
        f"tracking.artifact_root={tmp_path / 'mlart'}",
        "evaluate.perturbations=[{kind: jpeg, value: 50}]",
    )
    assert main(args) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["counts"] == {"images": 13, "scored": 12, "failed": 1, "conditions": 2}
    metrics = json.loads((tmp_path / "metrics" / "eval.json").read_text())
    assert set(metrics["demo"]) == {"macc", "map", "best_acc", "ece"}
    robustness = json.loads((tmp_path / "metrics" / "robustness.json").read_text())
    assert set(robustness["demo"]) == {"jpeg_q50"}

    client = MlflowClient(tracking_uri=uri)
    run = client.search_runs([client.get_experiment_by_name("realign").experiment_id])[0]
    assert run.data.tags["realign.stage"] == "evaluate"
    assert {"demo.macc", "demo.jpeg_q50.macc", "demo.jpeg_q50.gen_a.acc"} <= set(run.data.metrics)
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"report.md", "plots"} <= artifacts
    plots = {a.path for a in client.list_artifacts(run.info.run_id, "plots")}
    assert {"plots/accuracy.png", "plots/roc.png", "plots/robustness.png"} <= plots


def test_evaluate_cli_without_detector_is_one_line_and_exit_2(
    benchmark_data: tuple, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root, manifests, _ = benchmark_data
    args = _evaluate(tmp_path / "none", manifests, root, tmp_path, "tracking.enabled=false")
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: detector folder not found") and "\n" not in err


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("evaluate.preprocessing=squash", "evaluate.preprocessing"),  # not a policy
        ("evaluate.perturbations=[{kind: jpeg, value: 120}]", "evaluate.perturbations.0"),
        ("ablate.text_variants=[full, full]", "ablate"),  # duplicates
    ],
)
def test_bad_params_name_the_key(
    override: str, expected: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = _evaluate(tmp_path, tmp_path, tmp_path, tmp_path, override)
    assert main(args) == 2
    assert expected in capsys.readouterr().err


def test_ablate_unknown_table_lists_the_allowed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = argv("ablate", "strategy", repo=tmp_path, params=PARAMS, set="tracking.enabled=false")
    assert main(args) == 2
    assert "allowed: ['text', 'training', 'all']" in capsys.readouterr().err
