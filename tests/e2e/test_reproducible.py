"""Byte-for-byte reproducible outputs: two fresh clones, two environments, the same hashes.

Each clone builds the demo data and runs `dvc repro` (every stage of the tiny preset) in its own
environment: one with HF_HUB_OFFLINE/TRANSFORMERS_OFFLINE set and one thread per library, the
other with them unset and two threads. Every output hash in the two dvc.lock files must be
equal (metrics files aside: they hold timings), and so must every dep and params entry.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from tests.e2e.workspace import copy_repo, fresh_git_repo, lock_without_metrics, sh

pytestmark = pytest.mark.slow

THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def _environment(ws: Path, *, offline: bool, threads: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "TRANSFORMERS_"))}
    env.pop("PREFECT_API_URL", None)
    env.update({var: str(threads) for var in THREAD_VARS})
    env["MLFLOW_TRACKING_URI"] = f"sqlite:///{ws / 'mlflow.db'}"
    if offline:
        env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    return env


def _run_clone(ws: Path, *, offline: bool, threads: int) -> dict:
    ws.mkdir()
    copy_repo(ws)
    env = _environment(ws, offline=offline, threads=threads)
    fresh_git_repo(ws, env)
    sh(ws, "realign", "demo-data", "--out", "data", env=env)
    sh(ws, "dvc", "commit", "-f", "-q", "data.dvc", env=env)
    sh(ws, "dvc", "repro", env=env, timeout=2400)
    return yaml.safe_load((ws / "dvc.lock").read_text())


def test_two_clones_in_different_environments_write_the_same_outputs(tmp_path: Path) -> None:
    a = lock_without_metrics(_run_clone(tmp_path / "a", offline=True, threads=1))
    b = lock_without_metrics(_run_clone(tmp_path / "b", offline=False, threads=2))
    assert sorted(a) == sorted(b)
    differing = {
        stage: [o["path"] for o in a[stage]["outs"] if o not in b[stage]["outs"]] or "deps/params"
        for stage in a
        if a[stage] != b[stage]
    }
    assert not differing, f"outputs that differ between the two clones: {differing}"
