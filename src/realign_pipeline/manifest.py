"""The manifest table: one row per validated image, written by ingest and read by every stage.

Files under the manifest folder (default `artifacts/manifests/`):
    train.parquet            split == "train"   (GRPO, sampling, alignment)
    val.parquet              split == "val"     (held-out: GRPO greedy accuracy, align validation)
    bench-<name>.parquet     split == "benchmark", one per benchmark source
    rejected.parquet         files that were not accepted, with a reason
    leakage.parquet          train/benchmark byte-duplicates

Columns (`MANIFEST_COLUMNS`):
    image_id   sha256 hex of the file bytes
    path       POSIX path relative to the data root (resolve with `image_path`)
    label      0 = real, 1 = fake (int8)
    generator  generator name ("real" sources use their dataset or folder name)
    category   optional sub-folder (AIGCDetectBenchmark's categories; "" when absent)
    dataset    source name from params
    split      train | val | benchmark
    width, height  decoded size after normalisation (int32)
    format     decoder format (JPEG, PNG, ...)
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from realign_pipeline.errors import InputError, MissingInputError
from realign_pipeline.paths import resolve_within

MANIFEST_COLUMNS = (
    "image_id",
    "path",
    "label",
    "generator",
    "category",
    "dataset",
    "split",
    "width",
    "height",
    "format",
)
LABEL_NAMES = {0: "real", 1: "fake"}
TRAIN_FILE = "train.parquet"
VAL_FILE = "val.parquet"
REJECTED_FILE = "rejected.parquet"
LEAKAGE_FILE = "leakage.parquet"
DUPLICATES_FILE = "duplicates.parquet"
INGEST_SUMMARY_FILE = "summary.json"  # every ingest count, and `missing_benchmarks`


def read_missing_benchmarks(manifests: str | Path) -> list[str]:
    """The optional benchmarks ingest skipped because their folder was missing."""
    path = Path(manifests) / INGEST_SUMMARY_FILE
    if not path.is_file():
        return []
    return list(json.loads(path.read_text(encoding="utf-8")).get("missing_benchmarks", []))


def benchmark_file(name: str) -> str:
    """File name of one benchmark's manifest."""
    return f"bench-{name}.parquet"


def read_manifest(path: str | Path, *, require_both_labels: bool = False) -> pd.DataFrame:
    """Read a manifest and check its columns and labels.

    Raises:
        MissingInputError: the file does not exist.
        InputError: columns are missing, labels are not 0/1, or (when asked) a class is absent.
    """
    path = Path(path)
    if not path.is_file():
        raise MissingInputError(f"manifest not found: {path} (run `realign ingest` first)")
    df = pd.read_parquet(path)
    missing = [c for c in MANIFEST_COLUMNS if c not in df.columns]
    if missing:
        raise InputError(f"manifest {path}: missing columns {missing}")
    bad = sorted(set(df["label"].unique()) - {0, 1})
    if bad:
        raise InputError(f"manifest {path}: labels must be 0 (real) or 1 (fake), found {bad}")
    if require_both_labels and (df.empty or df["label"].nunique() < 2):
        present = sorted(LABEL_NAMES[int(v)] for v in df["label"].unique())
        raise InputError(
            f"manifest {path}: needs both real and fake images, found {present or 'no images'}"
        )
    return df


def image_path(data_root: str | Path, relative: str) -> Path:
    """Absolute path of a manifest row's image, refused if it escapes the data root."""
    return resolve_within(data_root, relative)
