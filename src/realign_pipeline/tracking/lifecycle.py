"""Run lifecycle: open, resume, nest, tag and close MLflow runs by id; where their code came from.

The CLI opens a stage's run with `start_stage_run`; a Prefect task that already created the run
passes its id to the stage subprocess in `REALIGN_RUN_ID` (or a parent id in
`REALIGN_PARENT_RUN_ID`, under which a nested run is created). Flows and the ablation runner
create runs that outlive one call with `create_run` and close them with `end_run`.
"""

from __future__ import annotations

import logging
import os
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from realign_pipeline import stage_env
from realign_pipeline.config.tracking import TrackingConfig
from realign_pipeline.tracking.tracker import (
    Tracker,
    connect,
    flatten_params,
    is_remote,
    redact_uri,
    tracking_errors,
)

logger = logging.getLogger(__name__)

ENV_EXP_NAME = "DVC_EXP_NAME"  # set by `dvc exp run` for the stages of one experiment


def _pipeline_outputs(root: Path) -> list[str]:
    """dvc.lock and the outputs dvc.yaml declares: a run rewrites them, so they never count as
    a change to the checkout (the git-tracked metrics files above all)."""
    import yaml

    try:
        stages = (yaml.safe_load((root / "dvc.yaml").read_text()) or {}).get("stages") or {}
    except (OSError, yaml.YAMLError):
        return ["dvc.lock"]
    paths = ["dvc.lock"]
    for stage in stages.values():
        for kind in ("outs", "metrics", "plots"):
            paths += [next(iter(o)) if isinstance(o, dict) else o for o in stage.get(kind) or []]
    return paths


def git_commit(cwd: str | Path = ".") -> str:
    """The checkout's commit, with `-dirty` when a tracked file other than the pipeline's own
    outputs differs from it; `unknown` outside a git checkout."""

    def git(*args: str, cwd: str | Path = cwd) -> str:
        return subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, check=True
        ).stdout.strip()

    try:
        top, sha = git("rev-parse", "--show-toplevel", "HEAD").splitlines()
        excluded = [f":(exclude){path}" for path in _pipeline_outputs(Path(top))]
        dirty = git("status", "--porcelain", "--untracked-files=no", "--", ".", *excluded, cwd=top)
    except (OSError, ValueError, subprocess.CalledProcessError):
        return "unknown"
    return f"{sha}-dirty" if dirty else sha


def get_experiment_id(client: Any, cfg: TrackingConfig) -> str:
    """Id of `cfg.experiment`, created (with `cfg.artifact_root` for local stores) if missing."""
    experiment = client.get_experiment_by_name(cfg.experiment)
    if experiment is None:
        local = not is_remote(client.tracking_uri)
        location = Path(cfg.artifact_root).resolve().as_uri() if local else None
        try:
            return client.create_experiment(cfg.experiment, artifact_location=location)
        except tracking_errors():  # a concurrent creator won the race: read it back
            experiment = client.get_experiment_by_name(cfg.experiment)
            if experiment is None:
                raise
    return experiment.experiment_id


def base_tags(stage: str, preset: str) -> dict[str, str]:
    """Tags every run carries: stage, preset, git commit, and the Prefect flow run when present."""
    tags = {
        "realign.stage": stage,
        "realign.preset": preset,
        "mlflow.source.git.commit": git_commit(),
    }
    if os.environ.get(stage_env.FLOW_RUN_ID):
        tags["prefect.flow_run_id"] = os.environ[stage_env.FLOW_RUN_ID]
    return tags


def _create(
    client: Any,
    cfg: TrackingConfig,
    name: str,
    tags: Mapping[str, str],
    parent_run_id: str | None,
) -> str:
    tags = dict(tags)
    if parent_run_id:
        tags["mlflow.parentRunId"] = parent_run_id
        # `align (text/full)`, `evaluate (tiny 1a2b3c4)`: tellable apart in a flat runs list
        parent_name = client.get_run(parent_run_id).info.run_name
        name = f"{name} ({parent_name})" if parent_name else name
    run = client.create_run(get_experiment_id(client, cfg), tags=tags, run_name=name)
    return run.info.run_id


def variant_label(repo_root: Path, params: Mapping[str, Any]) -> str:
    """What a run is: its preset plus every value that differs from the preset's own file
    (`tiny`, `tiny align.strategy=bce_only`), the same from the form, `realign ablate` and `dvc
    exp run -S`. Just the preset's name when its file cannot be rendered."""
    import yaml

    from realign_pipeline.config import validate_params
    from realign_pipeline.config.presets import render_params
    from realign_pipeline.errors import RealignError

    def values(data: Mapping[str, Any]) -> dict[str, str]:  # as the config reads them
        return flatten_params(validate_params(data).model_dump(mode="json"))

    preset = str(params.get("preset"))
    try:
        base, ours = values(yaml.safe_load(render_params(repo_root, preset))), values(params)
    except (RealignError, OSError):
        return preset
    # where a run is recorded (tracking.*) is not what it is
    changed = [
        f"{k}={v}" for k, v in ours.items() if base.get(k) != v and not k.startswith("tracking.")
    ]
    return " ".join([preset, *changed])


def create_variant_run(
    cfg: TrackingConfig,
    root: Path,
    params: Mapping[str, Any],
    commit: str,
    tags: Mapping[str, str],
    extra_params: Mapping[str, Any] | None = None,
) -> str | None:
    """Create the parent run of one variant (a flow run, an ablation, a `dvc exp run`): named
    `<variant label> <commit>`, tagged with it, and carrying the variant-defining params.

    Args:
        params: the whole params mapping of the variant (its preset, align and evaluate).
        tags: added to the stage (`pipeline`), preset, commit and variant tags.
    """
    from realign_pipeline.tracking.registry import VARIANT_TAG, variant_params

    if not cfg.enabled:
        return None
    label = variant_label(root, params)
    tags = {
        "realign.stage": "pipeline",
        "realign.preset": str(params.get("preset")),
        "mlflow.source.git.commit": commit,
        VARIANT_TAG: label,
        **tags,
    }
    run_id = create_run(cfg, f"{label} {commit[:7]}", tags)
    sections = {s: params.get(s) or {} for s in ("align", "evaluate")}
    tracker_for(cfg, run_id).log_params({**(extra_params or {}), **variant_params(sections)})
    return run_id


def _experiment_parent(client: Any, cfg: TrackingConfig, params: Mapping[str, Any]) -> str:
    """The parent run of this `dvc exp run` experiment (`$DVC_EXP_NAME`), created by its first
    tracked stage and shared by the others."""
    name = os.environ[ENV_EXP_NAME]
    found = client.search_runs(
        [get_experiment_id(client, cfg)],
        f"tags.`dvc.exp_name` = '{name}' and tags.`realign.stage` = 'pipeline'",
        max_results=1,
    )
    if found:
        client.update_run(found[0].info.run_id, status="RUNNING")
        return found[0].info.run_id
    root = Path(os.environ.get("DVC_ROOT") or ".")
    tags = {**base_tags("pipeline", str(params.get("preset"))), "dvc.exp_name": name}
    return create_variant_run(cfg, root, params, tags["mlflow.source.git.commit"], tags)


@contextmanager
def start_stage_run(
    cfg: TrackingConfig,
    stage: str,
    preset: str,
    params: Mapping[str, Any] | None = None,
    *,
    run_id: str | None = None,
    parent_run_id: str | None = None,
    variant: Mapping[str, Any] | None = None,
    headline: Sequence[Path] = (),
) -> Iterator[Tracker]:
    """Open (or resume) the MLflow run of one stage and close it with its final status.

    `run_id` resumes an existing run (default: `$REALIGN_RUN_ID`); otherwise a new run is created,
    nested under `parent_run_id` (default: `$REALIGN_PARENT_RUN_ID`) when given. In a `dvc exp
    run` with neither, `variant` (the whole params mapping) names the experiment's parent run,
    which every stage of the experiment shares. After the stage, the numbers of its `headline`
    metrics files go on the parent too.
    """
    if not cfg.enabled:
        yield Tracker()
        return
    client = connect(cfg)
    run_id = run_id or os.environ.get(stage_env.RUN_ID) or None
    parent_run_id = parent_run_id or os.environ.get(stage_env.PARENT_RUN_ID) or None
    grouped = not (run_id or parent_run_id) and variant is not None and ENV_EXP_NAME in os.environ
    if grouped:
        parent_run_id = _experiment_parent(client, cfg, variant)
    tags = base_tags(stage, preset)
    owns_run = run_id is None
    if run_id is None:
        run_id = _create(client, cfg, stage, tags, parent_run_id)
    tracker = Tracker(client, run_id, client.tracking_uri, fallback=cfg.fallback_to_local)
    parent = Tracker(
        client, parent_run_id or "", client.tracking_uri, fallback=cfg.fallback_to_local
    )
    if not owns_run:
        tracker.set_tags(tags)
    if params:
        tracker.log_params(params)
    logger.info("MLflow run %s (%s) at %s", run_id, stage, redact_uri(client.tracking_uri))
    try:
        yield tracker
    except BaseException:
        for run, owned in ((tracker, owns_run), (parent, grouped)):
            if owned:
                run.terminate("FAILED", quiet=True)  # never hide the stage's own error
        raise
    if parent_run_id:
        parent.log_metrics(_read_headline(headline))
    if owns_run:
        tracker.terminate("FINISHED")
    if grouped:
        parent.terminate("FINISHED")


def _read_headline(paths: Sequence[Path]) -> dict[str, float]:
    """The flat numbers of the headline metrics files that exist (`demo.macc`, ...)."""
    import json

    from realign_pipeline.headline import flatten

    found = [json.loads(Path(p).read_text()) for p in paths if Path(p).is_file()]
    return {k: v for document in found for k, v in flatten(document).items()}


def create_run(
    cfg: TrackingConfig,
    name: str,
    tags: Mapping[str, str],
    *,
    parent_run_id: str | None = None,
) -> str | None:
    """Create a run that outlives this call (a flow's parent run, or a stage's nested run).

    Returns its id, or None when tracking is off. Close it with `end_run`.
    """
    return _create(connect(cfg), cfg, name, tags, parent_run_id) if cfg.enabled else None


def end_run(cfg: TrackingConfig, run_id: str | None, status: str = "FINISHED") -> None:
    """Mark a run created by `create_run` as FINISHED, FAILED or KILLED."""
    if cfg.enabled and run_id:
        connect(cfg).set_terminated(run_id, status=status)


def tracker_for(cfg: TrackingConfig, run_id: str | None) -> Tracker:
    """A `Tracker` bound to an existing run (a no-op `Tracker()` when tracking is off)."""
    if not cfg.enabled or not run_id:
        return Tracker()
    client = connect(cfg)
    return Tracker(client, run_id, client.tracking_uri)


def run_url(cfg: TrackingConfig, run_id: str | None) -> str:
    """Link to a run in the MLflow UI for a server URI; for a local store, the `mlflow ui` hint."""
    if not run_id:
        return ""
    client = connect(cfg)
    if is_remote(client.tracking_uri):
        exp = client.get_run(run_id).info.experiment_id
        return f"{redact_uri(client.tracking_uri).rstrip('/')}/#/experiments/{exp}/runs/{run_id}"
    uri = client.tracking_uri
    return f"run {run_id} (local store {uri}; view with `mlflow ui --backend-store-uri {uri}`)"
