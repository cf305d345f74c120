"""The dvc-exp runner of `realign ablate` against a real temporary git + DVC repository.

The repository's dvc.yaml has trivial stages that read the align params and write
metrics/eval.json (the evaluate stage opens an MLflow stage run, like the real one), so the
runner's experiment creation, reuse, params matching and run tagging are exercised for real.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest

from realign_pipeline.cli.ablate import absolute_tracking_uri, run_ablation
from realign_pipeline.config.evaluate import AblateConfig
from realign_pipeline.config.tracking import TrackingConfig
from realign_pipeline.evaluate.ablate import build_comparison, plan_ablation

DVC = (sys.executable, "-m", "dvc")

PLAIN_STAGE = """
import json, os, yaml
align = yaml.safe_load(open("params.yaml"))["align"]
score = {"full": 0.75, "label_only": 0.5}[align["text_variant"]]
os.makedirs("metrics", exist_ok=True)
json.dump({"benchmarks": {"demo": {"none": {"macc": score}}}}, open("metrics/eval.json", "w"))
"""

TRACKED_STAGE = """
import json, os, yaml
from realign_pipeline.config.tracking import TrackingConfig
from realign_pipeline.tracking import start_stage_run

align = yaml.safe_load(open("params.yaml"))["align"]
score = {"full": 0.75, "label_only": 0.5}[align["text_variant"]]
cfg = TrackingConfig(enabled=True, uri="sqlite:///mlflow.db", artifact_root="mlartifacts",
                     experiment="realign", fallback_to_local=False, connect_timeout_s=1)
with start_stage_run(cfg, "evaluate", "tiny", {"align": align}) as tracker:
    tracker.log_metrics({"demo.macc": score})
os.makedirs("metrics", exist_ok=True)
json.dump({"benchmarks": {"demo": {"none": {"macc": score}}}}, open("metrics/eval.json", "w"))
"""


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


def _make_repo(tmp_path: Path, stage: str) -> Path:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    _git(repo, "config", "user.email", "test@example.com")
    _git(repo, "config", "user.name", "test")
    subprocess.run([*DVC, "init", "-q"], cwd=repo, check=True)
    (repo / "params.yaml").write_text(
        "align:\n  text_variant: full\n  strategy: joint\n  finetune: lora\n"
    )
    (repo / "evaluate.py").write_text(stage)
    (repo / "dvc.yaml").write_text(
        textwrap.dedent(f"""\
        stages:
          evaluate:
            cmd: {sys.executable} evaluate.py
            deps: [evaluate.py]
            params: [align]
            metrics:
              - metrics/eval.json:
                  cache: false
        """)
    )
    (repo / ".gitignore").write_text("mlflow.db\nmlartifacts/\n")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "init")
    return repo


def _variants() -> list:
    cfg = AblateConfig(
        text_variants=["full", "label_only"], training_variants=["joint_lora"], perturbation="none"
    )
    return plan_ablation("all", cfg)  # text/full and training/joint_lora: one configuration


def test_runner_runs_missing_experiments_then_reuses_them(tmp_path: Path) -> None:
    repo = _make_repo(tmp_path, PLAIN_STAGE)
    tracking = TrackingConfig(
        enabled=False,
        uri="sqlite:///mlflow.db",
        artifact_root="mlruns",
        experiment="realign",
        fallback_to_local=False,
        connect_timeout_s=1,
    )
    params = SimpleNamespace(preset="tiny", tracking=tracking)
    variants = _variants()
    kwargs = {
        "repo": repo,
        "params_file": "params.yaml",
        "metrics_file": "metrics/eval.json",
        "dvc": DVC,
    }

    first = run_ablation(variants, params, **kwargs)
    assert first.ran == ["text/full", "text/label_only"]
    assert first.skipped == ["training/joint_lora"] and first.failed == []
    assert first.names["training/joint_lora"] == first.names["text/full"]
    table = build_comparison(variants, first.metrics, benchmarks=["demo"], condition="none")
    assert table["mAcc demo"].tolist() == [75.0, 50.0, 75.0]
    assert "label_only" not in (repo / "params.yaml").read_text()  # workspace untouched

    second = run_ablation(variants, params, **kwargs)
    assert second.ran == [] and len(second.skipped) == 3
    assert second.metrics == first.metrics


@pytest.mark.slow
def test_runner_tags_a_parent_run_and_the_nested_stage_runs(tmp_path: Path) -> None:
    from mlflow.tracking import MlflowClient

    dvc_repo = _make_repo(tmp_path, TRACKED_STAGE)
    uri = absolute_tracking_uri("sqlite:///mlflow.db", dvc_repo)
    tracking = TrackingConfig(
        enabled=True,
        uri=uri,
        artifact_root=str(dvc_repo / "mlartifacts"),
        experiment="realign",
        fallback_to_local=False,
        connect_timeout_s=1,
    )
    params = SimpleNamespace(preset="tiny", tracking=tracking)
    outcome = run_ablation(
        _variants(),
        params,
        repo=dvc_repo,
        params_file="params.yaml",
        metrics_file="metrics/eval.json",
        dvc=DVC,
    )
    assert outcome.failed == []

    client = MlflowClient(tracking_uri=uri)
    runs = client.search_runs([client.get_experiment_by_name("realign").experiment_id])
    by_tag: dict[str, list[str]] = {}
    for run in runs:
        by_tag.setdefault(run.data.tags.get("ablation", ""), []).append(
            run.data.tags["realign.stage"]
        )
    # one tagged parent per experiment run, with the evaluate stage's run nested and tagged
    assert sorted(by_tag["text/full"]) == ["ablate", "evaluate"]
    assert sorted(by_tag["text/label_only"]) == ["ablate", "evaluate"]
    parents = {r.data.tags["ablation"]: r for r in runs if r.data.tags["realign.stage"] == "ablate"}
    assert parents["text/label_only"].data.metrics["demo.none.macc"] == 0.5
    assert parents["text/full"].info.status == "FINISHED"


def test_absolute_tracking_uri_only_rewrites_relative_sqlite(tmp_path: Path) -> None:
    assert absolute_tracking_uri("sqlite:///mlflow.db", tmp_path) == (
        f"sqlite:///{(tmp_path / 'mlflow.db').resolve()}"
    )
    assert absolute_tracking_uri("sqlite:////abs/x.db", tmp_path) == "sqlite:////abs/x.db"
    assert absolute_tracking_uri("http://host:5000", tmp_path) == "http://host:5000"
