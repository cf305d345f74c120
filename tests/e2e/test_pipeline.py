"""End to end: the whole tiny pipeline from a fresh copy of the repository.

One module-scoped run does what a new user does: build the demo data (checked byte for byte
against data.dvc), start a real `mlflow server` on 127.0.0.1, and run the `realign-pipeline`
Prefect flow (ephemeral API), which runs every DVC stage. The tests then read the results back:
DVC outputs and their hashes, MLflow's parent and nested runs, metrics and the detector model, a
no-op `dvc repro`, and an `align` param change that reruns only align and evaluate.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from realign_pipeline.config.pipeline import STAGES as ALL_STAGES
from tests.e2e.workspace import copy_repo, fresh_git_repo, lock_without_metrics, sh
from tests.learning import learning_failures, read_run
from tests.reliability.mlflow_server import mlflow_server as start_mlflow_server

REPO = Path(__file__).resolve().parents[2]
STAGES = list(ALL_STAGES)  # every stage of dvc.yaml runs in the tiny preset


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory):
    """URI of a real `mlflow server` on 127.0.0.1 for the whole module, stopped after it."""
    home = tmp_path_factory.mktemp("mlflow-server")
    with start_mlflow_server(home, dict(os.environ), start_timeout_s=120) as server:
        yield server.uri


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory, mlflow_server):
    ws = tmp_path_factory.mktemp("fresh-clone")
    copy_repo(ws)
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": mlflow_server,
        "PREFECT_HOME": str(ws / ".prefect-home"),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
    }
    env.pop("PREFECT_API_URL", None)
    fresh_git_repo(ws, env)
    committed_lock = (
        yaml.safe_load((ws / "dvc.lock").read_text()) if (ws / "dvc.lock").exists() else {}
    )
    sh(ws, "realign", "demo-data", "--out", "data", env=env)
    # record the rebuilt data's hash into data.dvc (and the cache): unchanged file = same bytes
    sh(ws, "dvc", "commit", "-f", "-q", "data.dvc", env=env)
    data_diff = subprocess.run(
        ["git", "diff", "--stat", "data.dvc"], cwd=ws, capture_output=True, text=True
    ).stdout
    start = time.monotonic()
    flow_out = sh(ws, sys.executable, "-m", "flows.pipeline", env=env, timeout=1500)
    return {
        "ws": ws,
        "env": env,
        "uri": mlflow_server,
        "flow_out": flow_out,
        "data_diff": data_diff,
        "committed_lock": committed_lock,
        "wall_s": time.monotonic() - start,
    }


def test_demo_data_matches_data_dvc_byte_for_byte(pipeline) -> None:
    assert pipeline["data_diff"] == "", pipeline["data_diff"]


def test_every_stage_ran_and_wrote_its_outputs(pipeline) -> None:
    ws = pipeline["ws"]
    lock = yaml.safe_load((ws / "dvc.lock").read_text())["stages"]
    assert set(lock) == set(STAGES)
    for rel in (
        "artifacts/manifests/train.parquet",
        "artifacts/aigi_r1",
        "artifacts/pairs/pairs.parquet",
        "artifacts/reasoning/samples.parquet",
        "artifacts/detector/detector.safetensors",
        "artifacts/eval/predictions.parquet",
        "artifacts/eval/report.md",
        "metrics/eval.json",
        "metrics/grpo.json",
    ):
        assert (ws / rel).exists(), rel
    grpo = yaml.safe_load((ws / "metrics/grpo.json").read_text())
    assert grpo["grpo"]["eval_format_rate"] > 0, grpo  # the tiny preset learns the tag format


def test_the_tiny_run_learns(pipeline) -> None:
    """The detector learned the generators it was trained on, validation is far above chance and
    GRPO's reward rose (tests/learning.py; the fault tests show the check catches ML bugs)."""
    run = read_run(pipeline["ws"])
    assert learning_failures(**run) == []
    assert run["eval_doc"]["demo"]["macc_unseen"] is not None  # reported beside the seen one


def test_every_stage_reproduces_the_committed_lock(pipeline) -> None:
    """The committed dvc.lock is what a fresh run writes, stage by stage: the same command,
    deps, params and output hashes (metrics files aside: they hold timings). Regenerate it with
    `bash scripts/pipeline.sh` in a clean clone of the commit, then commit its dvc.lock."""
    committed = lock_without_metrics(pipeline["committed_lock"])
    fresh = lock_without_metrics(yaml.safe_load((pipeline["ws"] / "dvc.lock").read_text()))
    assert sorted(committed) == sorted(fresh) == sorted(STAGES)
    for stage in STAGES:
        assert committed[stage] == fresh[stage], f"{stage}: dvc.lock differs from a fresh run"


def test_mlflow_server_has_parent_nested_runs_metrics_and_model(pipeline) -> None:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(pipeline["uri"])
    exp = client.get_experiment_by_name("realign")
    runs = client.search_runs([exp.experiment_id], max_results=500)
    parents = [r for r in runs if r.data.tags.get("realign.stage") == "pipeline"]
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    pid = parents[0].info.run_id
    nested = {
        r.data.tags["realign.stage"]: r
        for r in runs
        if r.data.tags.get("mlflow.parentRunId") == pid
    }
    assert set(nested) == set(STAGES)
    for stage, run in nested.items():
        assert run.info.status == "FINISHED", stage
        assert run.data.tags["dvc.stage_hash"], stage
        assert run.data.tags["mlflow.source.git.commit"], stage
    assert nested["ingest"].data.params  # the stage's params section was logged
    assert any(k.startswith("mAcc") or "macc" in k.lower() for k in nested["evaluate"].data.metrics)
    assert nested["align"].data.metrics
    models = client.search_logged_models([exp.experiment_id])
    assert any(m.source_run_id == nested["align"].info.run_id for m in models)


def test_second_dvc_repro_is_a_no_op(pipeline) -> None:
    out = sh(pipeline["ws"], "dvc", "repro", env=pipeline["env"])
    assert "Data and pipelines are up to date." in out, out


def test_align_param_change_reruns_only_align_and_evaluate(pipeline) -> None:
    from flows.workspace import set_param

    ws = pipeline["ws"]
    params = yaml.safe_load((ws / "params.yaml").read_text())
    set_param(ws, "align.weight_decay", float(params["align"]["weight_decay"]) + 0.01)
    out = sh(ws, "dvc", "repro", env={**pipeline["env"], "MLFLOW_TRACKING_URI": pipeline["uri"]})
    ran = {s for s in STAGES if f"Running stage '{s}'" in out}
    assert ran == {"align", "evaluate"}, out


def test_text_ablation_runs_two_variants_end_to_end(pipeline) -> None:
    from mlflow.tracking import MlflowClient

    ws, env = pipeline["ws"], pipeline["env"]
    cmd = ["realign", "ablate", "text", "-s", "ablate.text_variants=[full,label_only]"]
    proc = subprocess.run(cmd, cwd=ws, env=env, capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert json.loads(proc.stdout)["counts"]["failed"] == 0
    table = (ws / "artifacts/ablations/text.md").read_text()
    assert "| text | full |" in table and "| text | label_only |" in table
    # The tiny preset is not the paper's ablation protocol: its numbers are left out, saying why.
    assert "0.9133" not in table and "Paper numbers not shown" in table
    again = subprocess.run(cmd, cwd=ws, env=env, capture_output=True, text=True, timeout=600)
    assert json.loads(again.stdout)["counts"] == {"ran": 0, "skipped": 2, "failed": 0}
    client = MlflowClient(pipeline["uri"])
    exp = client.get_experiment_by_name("realign").experiment_id
    # one parent run per variant, named by preset + override, the stage runs nested under it
    (parent,) = client.search_runs([exp], filter_string="tags.ablation = 'text/label_only'")
    assert parent.info.run_name.startswith("tiny align.text_variant=label_only ")
    assert parent.data.params["align.text_variant"] == "label_only" and parent.data.metrics
    nested = client.search_runs([exp], f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
    assert {"align", "evaluate"} <= {r.data.tags["realign.stage"] for r in nested}


# The DVC views of the README's "Comparing ablations"; each fits a 120-column terminal.
EXP_SHOW = (
    "dvc exp show --only-changed"
    " --drop '(?!Experiment|align\\.(text_variant|strategy|finetune)|[^.]+\\.(macc|map)$)'"
    " --keep '^[^.]+\\.(macc|map)$'"  # mAcc/mAP stay even when the variants tie on them
)
VIEWS = (
    "dvc metrics show metrics/eval.json",
    "dvc metrics show metrics/robustness.json",
    EXP_SHOW,
    "dvc metrics diff --all {full} {label_only}",  # two experiments, one row per number
)
PLOT_TITLES = (
    "ReAlign training loss",
    "Per-generator accuracy (clean)",
    "Robustness (mAcc per perturbation)",
    "ROC (clean, pooled per benchmark)",
)


def _dvc_view(ws: Path, env: dict, command: str) -> str:
    """A DVC command's stdout at its natural width (a 1000-column console cuts nothing)."""
    proc = subprocess.run(
        shlex.split(command), cwd=ws, env={**env, "COLUMNS": "1000"},
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, f"{command}: {proc.stderr[-3000:]}"
    return proc.stdout


def _plot_titles(shown: dict) -> dict[str, list]:
    """Title -> revisions of each plot in `dvc plots show/diff --json`."""
    return {
        p["content"]["title"]["text"]: p["revisions"] for plots in shown.values() for p in plots
    }


def test_dvc_views_fit_120_columns_and_plots_render(pipeline, tmp_path) -> None:
    ws, env = pipeline["ws"], pipeline["env"]
    ablate = ["realign", "ablate", "text", "-s", "ablate.text_variants=[full,label_only]"]
    proc = subprocess.run(ablate, cwd=ws, env=env, capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stderr[-4000:]  # nothing runs after the ablation test
    experiments = json.loads(proc.stdout)["experiments"]
    full, label_only = experiments["text/full"], experiments["text/label_only"]
    readme = (REPO / "README.md").read_text()
    for view in VIEWS:
        documented = view.format(full="text-full-<hash>", label_only="text-label_only-<hash>")
        assert documented in readme, f"README's 'Comparing ablations' should show {documented!r}"
        command = view.format(full=full, label_only=label_only)
        out = _dvc_view(ws, env, command)
        width = max(len(line) for line in out.splitlines())
        assert width <= 120, f"{command}: {width} columns\n{out}"
        assert "\u2026" not in out and "macc" in out, out  # nothing elided, mAcc shown
    table = _dvc_view(ws, env, EXP_SHOW)
    for name in ("align.text_variant", "demo.macc", "demo.map", full, label_only):
        assert name in table, table

    shown = _plot_titles(json.loads(_dvc_view(ws, env, "dvc plots show --json"))["data"])
    sh(ws, "dvc", "plots", "show", "-o", str(tmp_path / "show"), env=env)
    page = (tmp_path / "show" / "index.html").read_text()
    diff = json.loads(_dvc_view(ws, env, f"dvc plots diff {full} {label_only} --json"))
    side_by_side = _plot_titles(diff["data"])
    sh(ws, "dvc", "plots", "diff", full, label_only, "-o", str(tmp_path / "diff"), env=env)
    diff_page = (tmp_path / "diff" / "index.html").read_text()
    for title in PLOT_TITLES:
        assert shown[title] == ["workspace"] and title in page, title
        assert side_by_side[title] == [full, label_only] and title in diff_page, title


def test_metrics_diff_between_two_runs_of_one_commit_is_empty(pipeline) -> None:
    ws, env = pipeline["ws"], pipeline["env"]
    sh(ws, "git", "add", "dvc.lock", "metrics", "params.yaml", "data.dvc", env=env)
    sh(ws, "git", "commit", "-qm", "run", env=env)
    stages = ("ingest", "review_import", "align", "evaluate")
    sh(ws, "dvc", "repro", "--force", "--single-item", *stages, env=env)
    assert _dvc_view(ws, env, "dvc metrics diff").strip() == ""  # no timings, no counters
