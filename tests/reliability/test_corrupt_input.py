"""Bad data between two runs: an image corrupted after a first run, debris of a crashed write.

A stage never crashes on one bad item and never drops one silently: ingest rejects the image
with a reason on the rerun and leaves every other row as it was; evaluate records it in
failures.parquet; sampling ignores the temp file of a crashed shard write and regenerates a
truncated shard.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import yaml

from tests.reliability.conftest import PARAMS, stage_args


def _corrupt(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])  # a copy cut short


def _manifests(workspace: Path) -> dict[str, pd.DataFrame]:
    folder = workspace / "artifacts" / "manifests"
    return {p.stem: pd.read_parquet(p) for p in sorted(folder.glob("*.parquet"))}


def test_ingest_rejects_an_image_corrupted_between_runs(
    make_workspace, monkeypatch, capsys, fault_log
) -> None:
    from realign_pipeline.cli import main

    workspace = make_workspace("ws")
    monkeypatch.chdir(workspace)
    args = stage_args("ingest")
    assert main(args) == 0
    before = _manifests(workspace)
    victims = [before["train"]["path"].iloc[0], before["bench-demo"]["path"].iloc[0]]
    for rel in victims:
        _corrupt(workspace / "data" / rel)

    assert main(args) == 0
    capsys.readouterr()
    after = _manifests(workspace)
    rejected = after["rejected"].set_index("path")
    assert set(rejected.index) == set(victims)
    assert rejected.loc[victims, "reason"].isin(["truncated_or_corrupt", "not_an_image"]).all()
    for name in ("train", "val", "bench-demo"):
        kept = before[name][~before[name]["path"].isin(victims)].reset_index(drop=True)
        pd.testing.assert_frame_equal(after[name], kept)  # nothing else moved or changed
    # the full counts (seen included) are in the manifests' summary; metrics hold the headline
    counts = json.loads((workspace / "artifacts" / "manifests" / "summary.json").read_text())
    assert (
        counts["accepted"] + counts["rejected"]
        == counts["seen"]
        == sum(len(before[n]) for n in ("train", "val", "bench-demo"))
    )
    fault_log(
        "image corrupted between two runs",
        "ingest",
        "rejected with a reason on the rerun; every other row unchanged",
    )


def test_evaluate_records_an_image_corrupted_after_ingest(tmp_path, fault_log) -> None:
    from realign_pipeline.config import load_params
    from realign_pipeline.evaluate import run_evaluate
    from tests.evaluate.conftest import make_benchmark, make_tiny_detector

    root, manifests = tmp_path / "data", tmp_path / "manifests"
    frame = make_benchmark(root, manifests)
    detector = make_tiny_detector(tmp_path / "detector")
    cfg = load_params(PARAMS).evaluate.model_copy(update={"perturbations": []})

    def run(name: str) -> tuple[pd.DataFrame, pd.DataFrame]:
        out = tmp_path / name
        run_evaluate(detector, manifests, root, out, tmp_path / f"{name}.json", cfg)
        return pd.read_parquet(out / "predictions.parquet"), pd.read_parquet(
            out / "failures.parquet"
        )

    predictions, failures = run("first")
    victim = frame.loc[frame["path"].str.endswith("gen_a/cat/0_real/0.png"), "image_id"].item()
    _corrupt(root / frame.set_index("image_id").loc[victim, "path"])
    again, failures_again = run("second")
    assert set(failures_again["image_id"]) == set(failures["image_id"]) | {victim}
    assert failures_again.set_index("image_id").loc[victim, "reason"] == "truncated_or_corrupt"
    expected = predictions[predictions["image_id"] != victim].reset_index(drop=True)
    pd.testing.assert_frame_equal(again, expected)
    fault_log(
        "image corrupted after ingest",
        "evaluate",
        "recorded in failures.parquet with a reason; other scores unchanged",
    )


def test_sample_resume_ignores_crash_debris_and_redoes_a_truncated_shard(
    synthetic_data, tmp_path, fault_log
) -> None:
    from realign_pipeline.config.sample import SampleConfig
    from realign_pipeline.sampling import run_sample
    from tests.sampling.conftest import FakeBackend

    root, manifest = synthetic_data
    section = yaml.safe_load(PARAMS.read_text(encoding="utf-8"))["sample"]
    cfg = SampleConfig.model_validate(section).model_copy(
        update={"batch_size": 4, "max_new_tokens": 8, "temperatures": [1.0], "seeds": [0]}
    )

    def run(out: Path, backend: FakeBackend):  # noqa: ANN202
        return run_sample(manifest, root, "fake", out, tmp_path / "m.json", cfg, backend=backend)

    run(tmp_path / "ref", FakeBackend())
    out = tmp_path / "crashed"
    run(out, FakeBackend())
    shards = sorted((out / "shards").glob("part-*.parquet"))
    (out / "samples.parquet").unlink()
    # what a crash leaves: the temp file of a write in progress, and (after a bad copy or a disk
    # fault) a shard cut short
    debris = out / "shards" / f".{shards[-1].name}.k1ll3d.tmp"
    debris.write_bytes(shards[-1].read_bytes()[:50])
    merge_debris = out / ".samples.parquet.k1ll3d.tmp"  # killed while writing the merge
    merge_debris.write_bytes(b"PAR1")
    os.utime(merge_debris, (1_000_000_000, 1_000_000_000))  # from an earlier process
    cut = len(pd.read_parquet(shards[2]))
    shards[2].write_bytes(shards[2].read_bytes()[:64])

    backend = FakeBackend()
    result = run(out, backend)
    assert backend.n_generated == cut == result.counts["generated_now"]
    assert result.counts["shard_files_removed"] == 1
    assert not debris.exists() and not merge_debris.exists()  # gone from the output folder
    assert (out / "samples.parquet").read_bytes() == (
        tmp_path / "ref" / "samples.parquet"
    ).read_bytes()
    fault_log(
        "crash debris (.tmp) + truncated shard",
        "sample",
        "temp file removed, truncated shard removed and regenerated; same table",
    )
