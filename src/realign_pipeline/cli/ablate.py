"""The DVC side of `realign ablate`: run each ablation configuration as a DVC experiment.

Each missing configuration runs as `dvc exp run --temp -n <name> -S align.x=y ...` (sequential,
in a temporary copy, so the workspace and its params.yaml stay untouched; unchanged stages come
from DVC's run cache). Before each run a parent MLflow run is created, named and tagged as a
flow's parent run is (`tiny align.text_variant=label_only 1a2b3c4`, the variant-defining params)
plus `ablation=<table>/<variant>`; its id reaches the stages through `REALIGN_PARENT_RUN_ID`, so
the align and evaluate runs of that experiment are nested under it. A
configuration DVC already has (an experiment with the same params.yaml and a metrics file) is
skipped.
Library code (variant tables, matching, comparison) is in `realign_pipeline.evaluate.ablate`.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from realign_pipeline.errors import RealignError

logger = logging.getLogger(__name__)


class AblationFailed(RealignError):
    """`dvc` itself failed (not one experiment: those are recorded and reported)."""


@dataclass
class AblationOutcome:
    """What `run_ablation` did: metrics per tag, which ran, which were skipped or failed."""

    metrics: dict[str, dict | None] = field(default_factory=dict)
    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    names: dict[str, str] = field(default_factory=dict)


def exp_show(repo: Path, dvc: Sequence[str]) -> list[dict[str, Any]]:
    """`dvc exp show --json` parsed (every experiment of the current baseline)."""
    proc = subprocess.run(
        [*dvc, "exp", "show", "--json"], cwd=repo, capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise AblationFailed(f"`dvc exp show --json` failed in {repo}: {proc.stderr.strip()}")
    return json.loads(proc.stdout or "[]")


def _experiment_env(parent_run_id: str | None) -> dict[str, str]:
    from realign_pipeline.stage_env import PARENT_RUN_ID, RUN_ID

    env = dict(os.environ)
    env.pop(RUN_ID, None)  # the stages must open their own runs, nested under the parent
    if parent_run_id:
        env[PARENT_RUN_ID] = parent_run_id
    return env


def _run_one(
    variant: Any, name: str, params: Any, expected: dict, repo: Path, dvc: Sequence[str]
) -> tuple[bool, str | None]:
    """Run one experiment under its own parent run, named and tagged like a flow's parent run
    (`<preset> <overrides> <commit>`, the variant-defining params): (dvc succeeded, run id)."""
    from realign_pipeline.tracking import git_commit
    from realign_pipeline.tracking.lifecycle import create_variant_run

    tags = {"ablation": variant.tag, "dvc.exp_name": name}
    definition = {"ablation.definition": variant.definition}
    run_id = create_variant_run(params.tracking, repo, expected, git_commit(repo), tags, definition)
    cmd = [*dvc, "exp", "run", "--temp", "-n", name, *variant.set_args()]
    logger.info("ablation %s: %s", variant.tag, " ".join(cmd))
    # DVC's and the stages' output goes to our stderr: stdout carries only the result JSON
    with subprocess.Popen(
        cmd,
        cwd=repo,
        env=_experiment_env(run_id),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            sys.stderr.write(line)
    if proc.returncode != 0:
        logger.error("ablation %s: dvc exp run exited with %d", variant.tag, proc.returncode)
    return proc.returncode == 0, run_id


def _log_result(tracking: Any, run_id: str | None, metrics: dict | None) -> None:
    """Log the experiment's headline eval metrics (metrics/eval.json) on its ablation run.

    Stages that DVC restores from its run cache open no MLflow run, so the ablation run itself
    carries the numbers the comparison needs, under the names of the metrics file.
    """
    from realign_pipeline.headline import flatten
    from realign_pipeline.tracking import tracker_for

    tracker_for(tracking, run_id).log_metrics(flatten(metrics or {}))


def run_ablation(
    variants: Sequence[Any],
    params: Any,
    *,
    repo: Path,
    params_file: str,
    metrics_file: str | Sequence[str],
    dvc: Sequence[str] = ("dvc",),
) -> AblationOutcome:
    """Run (or reuse) one DVC experiment per variant and collect its eval metrics by tag."""
    from realign_pipeline.evaluate.ablate import (
        apply_overrides,
        experiment_name,
        find_experiment,
        parse_experiments,
    )
    from realign_pipeline.tracking import end_run

    outcome = AblationOutcome()
    workspace, records = parse_experiments(
        exp_show(repo, dvc), params_file=params_file, metrics_file=metrics_file
    )
    if not workspace:
        raise AblationFailed(f"`dvc exp show` shows no params in {params_file} of {repo}")
    for variant in variants:
        expected = apply_overrides(workspace, variant.overrides)
        name = experiment_name(variant, expected)
        found = find_experiment(records, expected)
        if found is None:
            ok, run_id = _run_one(variant, name, params, expected, repo, dvc)
            (outcome.ran if ok else outcome.failed).append(variant.tag)
            try:
                _, records = parse_experiments(
                    exp_show(repo, dvc), params_file=params_file, metrics_file=metrics_file
                )
                found = find_experiment(records, expected) if ok else None
                _log_result(params.tracking, run_id, found.metrics if found else None)
            except BaseException:
                end_run(params.tracking, run_id, "FAILED")
                raise
            end_run(params.tracking, run_id, "FINISHED" if ok else "FAILED")
        else:
            logger.info("ablation %s: reusing experiment %s", variant.tag, found.name)
            outcome.skipped.append(variant.tag)
        outcome.names[variant.tag] = found.name if found else name
        outcome.metrics[variant.tag] = found.metrics if found else None
    return outcome
