"""The dvc-exp runner of `realign ablate` against a real temporary git + DVC repository.

The repository's dvc.yaml has trivial stages that read the align params and write
metrics/eval.json (the evaluate stage opens an MLflow stage run, like the real one), so the
runner's experiment creation, reuse, params matching and run tagging are exercised for real.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from realign_pipeline.cli.ablate import run_ablation
from realign_pipeline.config.evaluate import AblateConfig
from realign_pipeline.config.tracking import TrackingConfig
from realign_pipeline.evaluate.ablate import plan_ablation
from tests.conftest import argv, local_tracking

DVC = (sys.executable, "-m", "dvc")
REPO = Path(__file__).resolve().parents[2]

PLAIN_STAGE = """
import json, os, yaml
align = yaml.safe_load(open("params.yaml"))["align"]
score = {"full": 0.75, "label_only": 0.5}[align["text_variant"]]
os.makedirs("metrics", exist_ok=True)
json.dump({"demo": {"macc": score}}, open("metrics/eval.json", "w"))
"""

TRACKED_STAGE = """
import json, os, yaml
from realign_pipeline.config.tracking import TrackingConfig
from realign_pipeline.tracking import start_stage_run

params = yaml.safe_load(open("params.yaml"))
align = params["align"]
score = {"full": 0.75, "label_only": 0.5}[align["text_variant"]]
cfg = TrackingConfig(enabled=True, uri="sqlite:///mlflow.db", artifact_root="mlartifacts",
                     experiment="realign", fallback_to_local=False, connect_timeout_s=1)
os.makedirs("metrics", exist_ok=True)
with start_stage_run(cfg, "evaluate", "tiny", {"align": align}, variant=params,
                     headline=["metrics/eval.json"]) as tracker:
    tracker.log_metrics({"demo.macc": score})
    json.dump({"demo": {"macc": score}}, open("metrics/eval.json", "w"))
"""


ALIGN_PARAMS = "align:\n  text_variant: full\n  strategy: joint\n  finetune: lora\n"


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


def _make_repo(tmp_path: Path, stage: str, params_text: str = ALIGN_PARAMS) -> Path:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    _git(repo, "config", "user.email", "test@example.com")
    _git(repo, "config", "user.name", "test")
    subprocess.run([*DVC, "init", "-q"], cwd=repo, check=True)
    (repo / "params.yaml").write_text(params_text)
    shutil.copytree(REPO / "presets", repo / "presets")  # what a run's name is compared with
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
    return plan_ablation("all", cfg)


def _runs(tracking: TrackingConfig) -> list:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=tracking.uri)
    return client.search_runs([client.get_experiment_by_name("realign").experiment_id])


@pytest.mark.slow
def test_runner_gives_each_variant_a_named_parent_with_params_and_metrics(tmp_path: Path) -> None:
    dvc_repo = _make_repo(tmp_path, TRACKED_STAGE, (REPO / "params.yaml").read_text())
    tracking = local_tracking(dvc_repo, "realign")
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
    runs = _runs(tracking)
    # one parent per variant, tagged like a flow's, with the evaluate stage's run nested
    parents = {
        r.data.tags["ablation"]: r for r in runs if r.data.tags["realign.stage"] == "pipeline"
    }
    # (the tiny preset fine-tunes in full: training/joint_lora is a configuration of its own)
    assert sorted(parents) == ["text/full", "text/label_only", "training/joint_lora"]
    assert parents["training/joint_lora"].info.run_name.startswith("tiny align.finetune=lora ")
    nested = [
        r.data.tags.get("mlflow.parentRunId") for r in runs if r.info.run_name[:8] == "evaluate"
    ]
    assert sorted(nested) == sorted(p.info.run_id for p in parents.values())
    label_only = parents["text/label_only"]
    assert label_only.data.metrics["demo.macc"] == 0.5
    assert parents["text/full"].info.status == "FINISHED"
    # named after preset + what differs from it, with every variant-defining param
    assert re.fullmatch(
        r"tiny align\.text_variant=label_only [0-9a-f]{7}", label_only.info.run_name
    )
    assert re.fullmatch(r"tiny [0-9a-f]{7}", parents["text/full"].info.run_name)
    assert label_only.data.params["align.text_variant"] == "label_only"
    full_lr = parents["text/full"].data.params["align.learning_rate"]
    assert label_only.data.params["align.learning_rate"] == full_lr
    children = [r for r in runs if r.data.tags["realign.stage"] == "evaluate"]
    assert {r.info.run_name for r in children} == {
        f"evaluate ({p.info.run_name})" for p in parents.values()
    }


@pytest.mark.slow
def test_dvc_exp_run_groups_its_stage_runs_under_one_named_parent(tmp_path: Path) -> None:
    """`dvc exp run -S ...` (here in a temp copy) gets the parent run a flow run would get."""
    repo = _make_repo(tmp_path, TRACKED_STAGE, (REPO / "params.yaml").read_text())
    cmd = [*DVC, "exp", "run", "--temp", "-n", "lo", "-S", "align.text_variant=label_only"]
    subprocess.run(cmd, cwd=repo, check=True, capture_output=True)
    runs = _runs(local_tracking(repo, "realign"))  # in the workspace's store, not the temp copy's
    (parent,) = [r for r in runs if r.data.tags["realign.stage"] == "pipeline"]
    (stage,) = [r for r in runs if r.data.tags["realign.stage"] == "evaluate"]
    assert re.fullmatch(r"tiny align\.text_variant=label_only [0-9a-f]{7}", parent.info.run_name)
    assert parent.data.tags["dvc.exp_name"] == "lo" and parent.info.status == "FINISHED"
    assert parent.data.params["align.text_variant"] == "label_only"
    assert parent.data.metrics == {"demo.macc": 0.5}  # the stage's headline, on the parent
    assert stage.data.tags["mlflow.parentRunId"] == parent.info.run_id


def test_ablate_cli_runs_missing_experiments_then_reuses_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from realign_pipeline.cli import main

    params_text = (Path(__file__).resolve().parents[2] / "params.yaml").read_text()
    repo = _make_repo(tmp_path, PLAIN_STAGE, params_text)
    out = tmp_path / "ablations"
    sets = [
        "tracking.enabled=false",
        "ablate.text_variants=[label_only, full]",
        "ablate.training_variants=[joint_full]",
    ]
    args = argv("ablate", "all", repo=repo, out=out, params=repo / "params.yaml", set=sets)
    assert main(args) == 0
    captured = capsys.readouterr()
    printed = json.loads(captured.out)
    # the tiny preset trains joint + full: its text/full row (text_variant only) is Table 5's
    # joint_full, the pipeline's own configuration: one experiment, run once
    assert printed["counts"] == {"ran": 2, "skipped": 1, "failed": 0}
    assert printed["experiments"]["training/joint_full"] == printed["experiments"]["text/full"]
    assert "| text | full | 0.7500 |" in captured.err  # the table, printed
    table = (out / "all.md").read_text()
    # the tiny preset is not the paper's ablation protocol: no paper numbers beside ours
    assert "Paper numbers not shown" in table and "0.9709" not in table
    assert "| text | label_only | 0.5000 |" in table
    assert "| training | joint_full | 0.7500 |" in table
    assert "- `text/label_only`: text = " in table  # each row says what it does
    assert (out / "all.csv").read_text().splitlines()[0] == "table,variant,mAcc demo,definition"
    workspace = yaml.safe_load((repo / "params.yaml").read_text())
    assert workspace["align"]["text_variant"] == "full"  # the workspace is untouched

    assert main(args) == 0  # a rerun finds every experiment and runs nothing
    again = json.loads(capsys.readouterr().out)
    assert again["counts"] == {"ran": 0, "skipped": 3, "failed": 0}
    assert again["experiments"] == printed["experiments"]
