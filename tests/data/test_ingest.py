"""run_ingest: manifests, counts, leakage policy, split stability, determinism, parallel decode."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from PIL import Image, ImageOps

from realign_pipeline.data import build_demo_data, run_ingest
from realign_pipeline.data.ingest import is_val
from realign_pipeline.manifest import MANIFEST_COLUMNS, read_manifest
from realign_pipeline.tracking import Tracker
from tests.conftest import REAL_WORLD
from tests.data.data_helpers import demo_config, image_bytes, ingest_config, small_cfg, write


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_manifests_have_the_schema_and_sorted_rows(small_sources: Path, tmp_path: Path) -> None:
    out = tmp_path / "m"
    result = run_ingest(small_sources, out, tmp_path / "i.json", small_cfg(), seed=0)
    train = read_manifest(out / "train.parquet", require_both_labels=True)
    bench = read_manifest(out / "bench-bn.parquet")
    assert tuple(train.columns[: len(MANIFEST_COLUMNS)]) == MANIFEST_COLUMNS
    assert list(train["path"]) == sorted(train["path"]) and len(train) == 4
    assert set(train["split"]) == {"train"} and set(bench["split"]) == {"benchmark"}
    assert str(train["label"].dtype) == "int8" and str(train["width"].dtype) == "int32"
    assert result.counts == {
        "seen": 6,
        "accepted": 6,
        "rejected": 0,
        "side_files": 0,
        "leakage": 0,
        "benchmark_duplicates": 0,
        "normalised": 0,
        "images.train": 4,
        "images.val": 0,
        "images.bench-bn": 2,
    }
    assert read_manifest(out / "val.parquet").empty  # an empty split keeps its columns


def test_metrics_json_counts_add_up_per_source(small_sources: Path, tmp_path: Path) -> None:
    write(small_sources / "train" / "gen_a" / "0_real" / "broken.png", b"\x89PNG broken")
    run_ingest(small_sources, tmp_path / "m", tmp_path / "i.json", small_cfg(), seed=0)
    headline = json.loads((tmp_path / "i.json").read_text())
    assert headline == {
        "accepted": 6,
        "rejected": 1,
        "leakage": 0,
        "benchmark_duplicates": 0,
        "train": 4,
        "val": 0,
    }
    metrics = json.loads((tmp_path / "m" / "summary.json").read_text())
    assert metrics["seen"] == 7 and metrics["rejected_by_reason"] == {"not_an_image": 1}
    assert metrics["sources"]["tr"] == {"seen": 5, "accepted": 4, "rejected": 1, "side_files": 0}
    assert metrics["generators"]["train"] == {"gen_a": {"real": 2, "fake": 2}}
    for per in metrics["sources"].values():
        assert per["accepted"] + per["rejected"] + per["side_files"] == per["seen"]


@pytest.mark.parametrize(
    ("drop", "train_paths", "reasons"),
    [
        # default: the train copy goes, recorded as leakage
        (True, 3, {"leakage": 1}),
        # drop_leakage false: reported in leakage.parquet but kept in train
        (False, 4, {}),
    ],
)
def test_train_benchmark_duplicates_are_leakage(
    small_sources: Path, tmp_path: Path, drop: bool, train_paths: int, reasons: dict
) -> None:
    shutil.copy(
        small_sources / "bench" / "gen_b" / "1_fake" / "f.png",
        small_sources / "train" / "gen_a" / "1_fake" / "copy.png",
    )
    (small_sources / "train" / "gen_a" / "1_fake" / "img3.png").unlink()
    out = tmp_path / "m"
    result = run_ingest(
        small_sources, out, tmp_path / "i.json", small_cfg(drop_leakage=drop), seed=0
    )
    leakage = pd.read_parquet(out / "leakage.parquet")
    assert leakage[["train_path", "benchmark_path", "dropped"]].to_dict("records") == [
        {
            "train_path": "train/gen_a/1_fake/copy.png",
            "benchmark_path": "bench/gen_b/1_fake/f.png",
            "dropped": drop,
        }
    ]
    assert len(pd.read_parquet(out / "train.parquet")) == train_paths
    assert result.extra["rejected_by_reason"] == reasons
    assert result.counts["leakage"] == 1
    assert len(pd.read_parquet(out / "bench-bn.parquet")) == 2  # the benchmark keeps its copy


def test_benchmarks_keep_every_file_and_report_duplicates(
    small_sources: Path, tmp_path: Path
) -> None:
    # AIGCDetectBenchmark counts every file of every generator folder: shared real images and
    # repeated files stay in the benchmark (dropping one would change that generator's numbers)
    bench = small_sources / "bench"
    write(bench / "gen_b" / "0_real" / "r_again.png", image_bytes(100))  # within gen_b
    write(bench / "gen_c" / "0_real" / "r.png", image_bytes(100))  # shared real, across
    write(bench / "gen_c" / "1_fake" / "f.png", image_bytes(102))
    write(bench / "gen_d" / "1_fake" / "was_real.png", image_bytes(100))  # other label
    write(bench / "gen_d" / "0_real" / "r.png", image_bytes(103))
    out = tmp_path / "m"
    result = run_ingest(small_sources, out, tmp_path / "i.json", small_cfg(), seed=0)
    manifest = read_manifest(out / "bench-bn.parquet")
    assert len(manifest) == 7 and result.counts["rejected"] == 0
    assert manifest.groupby("generator").size().to_dict() == {"gen_b": 3, "gen_c": 2, "gen_d": 2}
    duplicates = pd.read_parquet(out / "duplicates.parquet")
    assert duplicates[["path", "first_path", "scope", "label_conflict"]].to_dict("records") == [
        {
            "path": "bench/gen_b/0_real/r_again.png",
            "first_path": "bench/gen_b/0_real/r.png",
            "scope": "within_generator",
            "label_conflict": False,
        },
        {
            "path": "bench/gen_c/0_real/r.png",
            "first_path": "bench/gen_b/0_real/r.png",
            "scope": "across_generators",
            "label_conflict": False,
        },
        {
            "path": "bench/gen_d/1_fake/was_real.png",
            "first_path": "bench/gen_b/0_real/r.png",
            "scope": "across_generators",
            "label_conflict": True,
        },
    ]
    assert result.counts["benchmark_duplicates"] == 3
    metrics = json.loads((out / "summary.json").read_text())
    assert metrics["benchmark_duplicates_by_scope"] == {
        "across_generators": 2,
        "within_generator": 1,
    }


def test_leakage_leaves_train_when_the_benchmark_holds_the_image_twice(
    small_sources: Path, tmp_path: Path
) -> None:
    write(small_sources / "bench" / "gen_c" / "1_fake" / "f.png", image_bytes(101))
    write(small_sources / "bench" / "gen_c" / "0_real" / "r.png", image_bytes(104))
    write(small_sources / "train" / "gen_a" / "1_fake" / "leak.png", image_bytes(101))
    out = tmp_path / "m"
    run_ingest(small_sources, out, tmp_path / "i.json", small_cfg(), seed=0)
    assert "train/gen_a/1_fake/leak.png" not in set(pd.read_parquet(out / "train.parquet")["path"])
    assert len(pd.read_parquet(out / "leakage.parquet")) == 2  # one row per benchmark copy
    assert len(read_manifest(out / "bench-bn.parquet")) == 4


def test_duplicates_across_train_sources_keep_the_first_source(
    small_sources: Path, tmp_path: Path
) -> None:
    write(small_sources / "extra" / "0_real" / "same.png", image_bytes(0))  # = train img0.png
    cfg = small_cfg(
        train_sources=[
            {"name": "tr", "layout": "aigcdetect", "path": "train"},
            {"name": "ex", "layout": "folder", "path": "extra"},
        ]
    )
    run_ingest(small_sources, tmp_path / "m", tmp_path / "i.json", cfg, seed=0)
    rejected = pd.read_parquet(tmp_path / "m" / "rejected.parquet")
    assert rejected[["path", "source", "reason"]].to_dict("records") == [
        {"path": "extra/0_real/same.png", "source": "ex", "reason": "duplicate"}
    ]


def test_val_split_depends_only_on_image_and_seed() -> None:
    ids = [f"{i:064x}" for i in range(2000)]
    share = sum(is_val(i, 0.2, seed=0) for i in ids) / len(ids)
    assert 0.17 < share < 0.23
    assert [is_val(i, 0.2, 0) for i in ids] == [is_val(i, 0.2, 0) for i in ids]
    assert [is_val(i, 0.2, 0) for i in ids] != [is_val(i, 0.2, 1) for i in ids]
    assert not any(is_val(i, 0.0, 0) for i in ids)


def test_adding_images_never_moves_others_between_splits(
    small_sources: Path, tmp_path: Path
) -> None:
    cfg = small_cfg(val_fraction=0.5)
    run_ingest(small_sources, tmp_path / "a", tmp_path / "a.json", cfg, seed=0)
    for i in range(6):
        write(small_sources / "train" / "gen_a" / "1_fake" / f"new{i}.png", image_bytes(200 + i))
    run_ingest(small_sources, tmp_path / "b", tmp_path / "b.json", cfg, seed=0)

    def splits(folder: Path) -> dict[str, str]:
        rows = pd.concat([pd.read_parquet(folder / f) for f in ("train.parquet", "val.parquet")])
        return dict(zip(rows["path"], rows["split"], strict=True))

    before, after = splits(tmp_path / "a"), splits(tmp_path / "b")
    assert {p: after[p] for p in before} == before


def test_rerun_is_byte_identical_and_replaces_stale_files(
    small_sources: Path, tmp_path: Path
) -> None:
    out = tmp_path / "m"
    run_ingest(small_sources, out, tmp_path / "a.json", small_cfg(), seed=0)
    first = _files(out)
    write(out / "bench-old.parquet", b"stale manifest of a removed benchmark")
    run_ingest(small_sources, out, tmp_path / "b.json", small_cfg(), seed=0)
    assert _files(out) == first
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()


def test_parallel_decoding_matches_in_process(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root = tmp_path / "data"
    build_demo_data(root, demo_config(), seed=0)
    cfg = ingest_config(num_workers=1)
    run_ingest(root, tmp_path / "serial", tmp_path / "s.json", cfg, seed=0)
    parallel = ingest_config(num_workers=2, chunk_size=8, pool_min_files=1)
    with caplog.at_level(logging.INFO, logger="realign_pipeline.data.validate"):
        result = run_ingest(root, tmp_path / "pool", tmp_path / "p.json", parallel, seed=0)
    assert "decoding 352 files with 2 processes" in caplog.text
    assert _files(tmp_path / "serial") == _files(tmp_path / "pool")
    assert result.counts["seen"] == result.counts["accepted"] == 352
    assert result.counts["leakage"] == 0 and result.counts["rejected"] == 0


class _RecordingTracker(Tracker):
    def __init__(self) -> None:
        super().__init__()
        self.metrics: dict[str, float] = {}
        self.artifacts: list[str] = []

    def log_metrics(self, metrics: Any, step: int | None = None) -> None:
        self.metrics.update(metrics)

    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None:
        self.artifacts.append(Path(path).name)


def test_counts_and_tables_go_to_the_tracker(small_sources: Path, tmp_path: Path) -> None:
    tracker = _RecordingTracker()
    run_ingest(
        small_sources, tmp_path / "m", tmp_path / "i.json", small_cfg(), seed=0, tracker=tracker
    )
    assert tracker.metrics["seen"] == 6 and tracker.metrics["images.bench-bn"] == 2
    assert sorted(tracker.artifacts) == ["rejected.parquet", "summary.json"]


def test_real_world_camera_jpeg_and_dalle_png_are_ingested(tmp_path: Path) -> None:
    root = tmp_path / "data"
    real = write(
        root / "rw" / "0_real" / "camera.jpg",
        (REAL_WORLD / "real_aadlygmazf.jpg").read_bytes(),
    )
    fake = write(
        root / "rw" / "1_fake" / "dalle.png",
        (REAL_WORLD / "fake_dalle_zzrybysskm.png").read_bytes(),
    )
    cfg = ingest_config(
        train_sources=[{"name": "real_world", "layout": "folder", "path": "rw"}],
        benchmarks=[],
        val_fraction=0.0,
    )
    result = run_ingest(root, tmp_path / "m", tmp_path / "i.json", cfg, seed=0)
    assert result.counts["accepted"] == 2 and result.counts["rejected"] == 0
    train = pd.read_parquet(tmp_path / "m" / "train.parquet").set_index("path")
    for rel, path, fmt, label in (
        ("rw/0_real/camera.jpg", real, "JPEG", 0),
        ("rw/1_fake/dalle.png", fake, "PNG", 1),
    ):
        with Image.open(path) as img:
            displayed = ImageOps.exif_transpose(img).size
        assert (train.loc[rel, "width"], train.loc[rel, "height"]) == displayed
        assert train.loc[rel, "format"] == fmt and train.loc[rel, "label"] == label
