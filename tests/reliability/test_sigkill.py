"""SIGKILL at chosen points of ingest, align and evaluate, then a rerun.

Each stage runs as a `realign` subprocess in a DVC-layout workspace; `kill_at.py` delivers a
real SIGKILL at an exact point (a decode, a rename of an atomic write, an optimizer step). The
rerun must end with outputs byte-identical to an uninterrupted run, no duplicate rows, and no
partial file where a later stage reads. Sampling's own kill/resume test lives in
tests/sampling/test_sampling_cli.py and is listed in the summary table.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pandas as pd
import pytest

from tests.reliability.conftest import (
    align_steps_per_epoch,
    assert_no_duplicate_rows,
    assert_only_atomic_leftovers,
    run_cli,
    snapshot,
    stage_args,
    write_pairs,
)

KILLED = -signal.SIGKILL
INGEST_OUTPUTS = ["artifacts/manifests", "metrics/ingest.json"]
MANIFESTS = ("train", "val", "bench-demo")

# (point name, kill spec, whether an older, different output exists when the kill lands)
INGEST_POINTS = [
    ("while decoding images", {"target": "PIL.Image:open", "nth": 10}, False),
    (
        "manifest folder half-built",
        {"target": "os:replace", "arg": 1, "match": "rejected.parquet", "nth": 1},
        False,
    ),
    (
        "between the folder swap's two renames",
        {"target": "os:replace", "arg": 1, "match": ".manifests.old-*", "nth": 1, "when": "after"},
        True,
    ),
    (
        "manifests swapped, metrics not yet written",
        {"target": "os:replace", "arg": 1, "match": "ingest.json", "nth": 1},
        True,
    ),
]


def _check_ingest_outputs(workspace: Path, reference: Path) -> list[str]:
    assert snapshot(workspace, INGEST_OUTPUTS) == snapshot(reference, INGEST_OUTPUTS)
    for name in MANIFESTS:
        assert_no_duplicate_rows(workspace / f"artifacts/manifests/{name}.parquet", ["image_id"])
    return assert_only_atomic_leftovers(workspace, ["artifacts/manifests"])


@pytest.mark.parametrize(
    ("point", "kill", "older"), INGEST_POINTS, ids=[p[0] for p in INGEST_POINTS]
)
def test_ingest_killed_then_rerun_matches_uninterrupted(
    point, kill, older, make_workspace, ingested, fault_log
) -> None:
    workspace = make_workspace("killed")
    if older:  # an earlier run with another split: the kill must not leave a mix of the two
        first = run_cli(workspace, *stage_args("ingest", "-s", "ingest.val_fraction=0.5"))
        assert first.returncode == 0, first.stderr
    killed = run_cli(workspace, *stage_args("ingest"), kill=kill)
    assert killed.returncode == KILLED, killed.stderr
    manifests = workspace / "artifacts" / "manifests"
    if not older:
        assert not manifests.exists(), "a killed first run left a manifest folder"
    elif "two renames" in point:
        assert not manifests.exists() and list((workspace / "artifacts").glob(".manifests.old-*"))

    rerun = run_cli(workspace, *stage_args("ingest"))
    assert rerun.returncode == 0, rerun.stderr
    left = _check_ingest_outputs(workspace, ingested)
    fault_log(
        f"SIGKILL {point}",
        "ingest",
        "rerun byte-identical, no duplicates" + (f"; inert leftovers {left}" if left else ""),
    )


def _align_outputs(workspace: Path) -> dict[str, object]:
    """What must match after a resume: weights, spec, curves, headline metrics (no timings)."""
    loss = pd.read_csv(workspace / "artifacts/align/loss.csv")
    return {
        "files": snapshot(workspace, ["artifacts/detector", "artifacts/align/val.csv"]),
        "loss": loss.to_dict("list"),
        "metrics": json.loads((workspace / "metrics/align.json").read_text()),
    }


def test_align_killed_mid_epoch_and_at_export_then_resumes_identically(
    ingested, copy_workspace, fault_log
) -> None:
    reference = copy_workspace(ingested, "straight")
    write_pairs(reference)
    straight = run_cli(reference, *stage_args("align"))
    assert straight.returncode == 0, straight.stderr

    workspace = copy_workspace(ingested, "killed")
    write_pairs(workspace)
    step = align_steps_per_epoch(workspace) + 1  # the first step of epoch 2
    mid_epoch = {"target": "torch.optim:AdamW.step", "nth": step, "when": "after"}
    first = run_cli(workspace, *stage_args("align"), kill=mid_epoch)
    assert first.returncode == KILLED, first.stderr
    assert (workspace / "artifacts/align_ckpt/last/state.json").is_file()
    assert not (workspace / "artifacts/detector").exists()

    at_export = {"target": "os:replace", "arg": 1, "match": "detector", "nth": 1}
    second = run_cli(workspace, *stage_args("align"), kill=at_export)
    assert second.returncode == KILLED, second.stderr
    assert not (workspace / "artifacts/detector").exists()

    third = run_cli(workspace, *stage_args("align"))
    assert third.returncode == 0, third.stderr
    assert _align_outputs(workspace) == _align_outputs(reference)
    left = assert_only_atomic_leftovers(workspace, ["artifacts/detector", "artifacts/align"])
    outcome = "resumed from the epoch-1 checkpoint; weights byte-identical"
    fault_log("SIGKILL mid-epoch 2 (after an optimizer step)", "align", outcome)
    fault_log(
        "SIGKILL at the detector export (folder built, not renamed)",
        "align",
        "rerun exports byte-identical detector" + (f"; inert leftovers {left}" if left else ""),
    )


EVAL_OUTPUTS = ["artifacts/eval", "metrics/eval.json"]


def _detector_workspace(ingested: Path, copy_workspace, name: str) -> Path:
    from tests.evaluate.conftest import make_tiny_detector

    workspace = copy_workspace(ingested, name)
    make_tiny_detector(workspace / "artifacts" / "detector")
    return workspace


def test_evaluate_killed_mid_build_then_rerun_matches_uninterrupted(
    ingested, copy_workspace, fault_log
) -> None:
    reference = _detector_workspace(ingested, copy_workspace, "straight")
    straight = run_cli(reference, *stage_args("evaluate"))
    assert straight.returncode == 0, straight.stderr

    workspace = _detector_workspace(ingested, copy_workspace, "killed")
    # predictions streamed into the temp folder, failures table about to land
    kill = {"target": "os:replace", "arg": 1, "match": "failures.parquet", "nth": 1}
    killed = run_cli(workspace, *stage_args("evaluate"), kill=kill)
    assert killed.returncode == KILLED, killed.stderr
    assert not (workspace / "artifacts/eval").exists()
    assert not (workspace / "metrics/eval.json").exists()

    rerun = run_cli(workspace, *stage_args("evaluate"))
    assert rerun.returncode == 0, rerun.stderr
    assert snapshot(workspace, EVAL_OUTPUTS) == snapshot(reference, EVAL_OUTPUTS)
    assert_no_duplicate_rows(
        workspace / "artifacts/eval/predictions.parquet", ["image_id", "benchmark", "perturbation"]
    )
    left = assert_only_atomic_leftovers(workspace, ["artifacts/eval"])
    fault_log(
        "SIGKILL while building the eval folder",
        "evaluate",
        "rerun byte-identical, no duplicates" + (f"; inert leftovers {left}" if left else ""),
    )


def _files(folder: Path) -> dict[str, bytes]:
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in files}


@pytest.mark.slow
def test_evaluate_killed_between_swap_renames_keeps_nothing_half_written(
    ingested, copy_workspace, fault_log
) -> None:
    workspace = _detector_workspace(ingested, copy_workspace, "killed")
    older = run_cli(workspace, *stage_args("evaluate", "-s", "evaluate.threshold=0.9"))
    assert older.returncode == 0, older.stderr
    old = _files(workspace / "artifacts/eval")
    kill = {"target": "os:replace", "arg": 1, "match": ".eval.old-*", "nth": 1, "when": "after"}
    killed = run_cli(workspace, *stage_args("evaluate"), kill=kill)
    assert killed.returncode == KILLED, killed.stderr
    assert not (workspace / "artifacts/eval").exists()
    kept = next((workspace / "artifacts").glob(".eval.old-*"))
    assert _files(kept) == old  # the previous output, whole, set aside
    rerun = run_cli(workspace, *stage_args("evaluate"))
    assert rerun.returncode == 0, rerun.stderr
    reference = _detector_workspace(ingested, copy_workspace, "straight")
    assert run_cli(reference, *stage_args("evaluate")).returncode == 0
    assert snapshot(workspace, EVAL_OUTPUTS) == snapshot(reference, EVAL_OUTPUTS)
    fault_log(
        "SIGKILL between the eval folder swap's renames",
        "evaluate",
        "old folder kept aside (hidden), output absent until rerun; rerun byte-identical",
    )


@pytest.fixture(scope="session")
def tiny_vlm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny offline Qwen2.5-VL of the tiny preset, saved like a hub snapshot."""
    from realign_pipeline.config import load_params
    from realign_pipeline.tiny_models import build_tiny_vlm
    from tests.reliability.conftest import PARAMS

    cfg = load_params(PARAMS).tiny_models
    return build_tiny_vlm(tmp_path_factory.mktemp("vlm") / "vlm", cfg, seed=0)


def _sample_args(model: Path) -> list[str]:
    small = ["-s", "sample.batch_size=4", "-s", "sample.max_new_tokens=8", "-s", "sample.seeds=[0]"]
    return stage_args("sample", "--model", str(model), *small)


def _sample_outputs(workspace: Path) -> dict[str, object]:
    # the headline metrics hold no throughput or resume counters: a resume matches exactly
    return {
        "tables": snapshot(workspace, ["artifacts/reasoning/samples.parquet",
                                       "artifacts/reasoning/rejected.parquet"]),
        "metrics": json.loads((workspace / "metrics/sample.json").read_text()),
    }  # fmt: skip


@pytest.mark.slow
def test_sample_killed_mid_shard_write_and_before_the_merge_then_resumes(
    ingested, copy_workspace, tiny_vlm, fault_log
) -> None:
    reference = copy_workspace(ingested, "straight")
    straight = run_cli(reference, *_sample_args(tiny_vlm))
    assert straight.returncode == 0, straight.stderr

    workspace = copy_workspace(ingested, "killed")
    shard_write = {"target": "os:replace", "arg": 1, "match": "part-*.parquet", "nth": 2}
    first = run_cli(workspace, *_sample_args(tiny_vlm), kill=shard_write)
    assert first.returncode == KILLED, first.stderr
    shards = workspace / "artifacts/reasoning/shards"
    assert len(list(shards.glob("part-*.parquet"))) == 1 and list(shards.glob(".part-*.tmp"))

    merge = {"target": "os:replace", "arg": 1, "match": "rejected.parquet", "nth": 1}
    second = run_cli(workspace, *_sample_args(tiny_vlm), kill=merge)
    assert second.returncode == KILLED, second.stderr
    assert not (workspace / "metrics/sample.json").exists()

    third = run_cli(workspace, *_sample_args(tiny_vlm))
    assert third.returncode == 0, third.stderr
    assert json.loads(third.stdout)["counts"]["generated_now"] == 0
    assert _sample_outputs(workspace) == _sample_outputs(reference)
    assert_no_duplicate_rows(
        workspace / "artifacts/reasoning/samples.parquet",
        ["image_id", "question_id", "seed", "temperature"],
    )
    left = assert_only_atomic_leftovers(workspace, ["artifacts/reasoning"])
    fault_log(
        "SIGKILL mid shard write (temp file, not renamed)",
        "sample",
        "resume removes the temp file, regenerates the batch; same table",
    )
    fault_log(
        "SIGKILL after the merged table, before rejected.parquet",
        "sample",
        "rerun generates nothing, removes the temp file, writes tables and metrics"
        + (f"; inert leftovers {left}" if left else ""),
    )
