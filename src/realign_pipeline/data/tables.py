"""Arrow schemas of the ingest outputs and their sorted, byte-stable writing.

Manifest columns are those of `realign_pipeline.manifest.MANIFEST_COLUMNS` plus two audit
columns written here:
    mode        the image mode before normalisation (RGB, L, CMYK, I;16, P, RGBA, ...)
    normalised  comma-separated steps applied when decoding (e.g. exif_transposed,
                converted_CMYK_to_RGB, first_of_3_frames); "" when the image was used as stored

rejected.parquet: path (relative to the data root), source, reason, detail, image_id (null when
    the bytes were never read).
side_files.parquet: path, source of the files shipped beside the images (annotations such as
    AIGI-Holmes' .jsonl, lists, READMEs, OS metadata): never decoded, never rejected.
leakage.parquet: image_id, train_path, train_source, benchmark, benchmark_path, dropped (whether
    the train copy was removed).
duplicates.parquet: byte-identical files inside one benchmark, all kept in its manifest (the
    reference counts every file): benchmark, image_id, path, generator, label, first_path (the
    first copy by path), first_generator, scope (within_generator | across_generators),
    label_conflict (the copies carry different labels).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa

from realign_pipeline.atomic import atomic_write_parquet
from realign_pipeline.manifest import MANIFEST_COLUMNS

MANIFEST_SCHEMA = pa.schema(
    [
        ("image_id", pa.string()),
        ("path", pa.string()),
        ("label", pa.int8()),
        ("generator", pa.string()),
        ("category", pa.string()),
        ("dataset", pa.string()),
        ("split", pa.string()),
        ("width", pa.int32()),
        ("height", pa.int32()),
        ("format", pa.string()),
        ("mode", pa.string()),
        ("normalised", pa.string()),
    ]
)
REJECTED_SCHEMA = pa.schema(
    [
        ("path", pa.string()),
        ("source", pa.string()),
        ("reason", pa.string()),
        ("detail", pa.string()),
        ("image_id", pa.string()),
    ]
)
SIDE_FILES_SCHEMA = pa.schema([("path", pa.string()), ("source", pa.string())])
LEAKAGE_SCHEMA = pa.schema(
    [
        ("image_id", pa.string()),
        ("train_path", pa.string()),
        ("train_source", pa.string()),
        ("benchmark", pa.string()),
        ("benchmark_path", pa.string()),
        ("dropped", pa.bool_()),
    ]
)
DUPLICATES_SCHEMA = pa.schema(
    [
        ("benchmark", pa.string()),
        ("image_id", pa.string()),
        ("path", pa.string()),
        ("generator", pa.string()),
        ("label", pa.int8()),
        ("first_path", pa.string()),
        ("first_generator", pa.string()),
        ("scope", pa.string()),
        ("label_conflict", pa.bool_()),
    ]
)
assert tuple(MANIFEST_SCHEMA.names[: len(MANIFEST_COLUMNS)]) == MANIFEST_COLUMNS


def write_table(
    path: Path, rows: Sequence[dict[str, Any]], schema: pa.Schema, sort_by: Sequence[str]
) -> Path:
    """Write `rows` sorted by `sort_by` with a fixed schema (empty tables keep their columns)."""
    ordered = sorted(rows, key=lambda r: tuple(r[k] or "" for k in sort_by))
    table = pa.Table.from_pylist([{k: r[k] for k in schema.names} for r in ordered], schema=schema)
    return atomic_write_parquet(path, table)
