"""`realign ingest`: validate every image of the train sources and benchmarks once and write
the manifests every later stage reads.

Reads: the sources of the `ingest` params section, under the data root (default `data/`).
Writes (the manifest folder is replaced as a whole, atomically):
    <out>/train.parquet, <out>/val.parquet   train pool, val chosen by a seeded hash of the bytes
    <out>/bench-<name>.parquet              one per benchmark
    <out>/rejected.parquet                  every file not accepted, with a reason
    <out>/leakage.parquet                   train images whose bytes occur in a benchmark
    <out>/duplicates.parquet                same bytes twice in one benchmark (kept, reported)
    <out>/side_files.parquet                files shipped beside the images (.jsonl, README, ...)
    <out>/summary.json                      every count: by reason, split, generator, source
    <metrics>                               headline counts (default metrics/ingest.json)

Before anything is decoded, checks.py refuses what cannot train or score (an empty or one-label
training pool, a benchmark generator without real or fake images, a source that does not fit its
layout); an optional benchmark (`required: false`) whose folder is missing is skipped and listed
in summary.json's `missing_benchmarks`. The pools are checked again after decoding; a refusal
stops the stage before anything is written.

Decisions, in order: files refused before decoding (scan.py), files that fail to decode
(validate.py), exact duplicates (same bytes) in the train pool (the first by source order then
path is kept), train/benchmark duplicates (leakage; removed from train when `drop_leakage`).
A benchmark keeps every decodable file of every generator folder, duplicates included, because
AIGCDetectBenchmark's code counts them all: its copies are listed in duplicates.parquet and
counted in the metrics. Every file seen ends in exactly one manifest or in rejected.parquet.

Run: `realign ingest --data-root data --out artifacts/manifests --metrics metrics/ingest.json`
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from pathlib import Path
from typing import Any

from realign_pipeline.atomic import atomic_dir, atomic_write_json
from realign_pipeline.config.ingest import IngestConfig
from realign_pipeline.data.checks import check_pools, check_scan, count_labels, raise_refusals
from realign_pipeline.data.scan import SIDE_FILE, Entry, scan_sources
from realign_pipeline.data.tables import (
    DUPLICATES_SCHEMA,
    LEAKAGE_SCHEMA,
    MANIFEST_SCHEMA,
    REJECTED_SCHEMA,
    SIDE_FILES_SCHEMA,
    write_table,
)
from realign_pipeline.data.validate import FileCheck, check_files
from realign_pipeline.errors import MissingInputError
from realign_pipeline.headline import flatten, ingest_headline
from realign_pipeline.manifest import (
    DUPLICATES_FILE,
    INGEST_SUMMARY_FILE,
    LABEL_NAMES,
    LEAKAGE_FILE,
    REJECTED_FILE,
    TRAIN_FILE,
    VAL_FILE,
    benchmark_file,
)
from realign_pipeline.results import StageResult
from realign_pipeline.tracking import Tracker

logger = logging.getLogger(__name__)

SUMMARY_FILE = INGEST_SUMMARY_FILE
SIDE_FILES_FILE = "side_files.parquet"

Row = dict[str, Any]


def _scan_all(root: Path, cfg: IngestConfig) -> tuple[dict[str, list[Entry]], list[str]]:
    """Entries per source (scan_sources) and the optional benchmarks skipped as missing.

    Raises:
        RealignError: a source could not be scanned (missing, outside the data root, bad CSV),
            unless it is an optional benchmark whose folder is missing.
    """
    scanned, errors = scan_sources(root, cfg)
    optional = {s.name for s in cfg.benchmarks if not s.required}
    missing = [n for n, e in errors.items() if n in optional and isinstance(e, MissingInputError)]
    for name, exc in errors.items():
        if name not in missing:
            raise exc
        logger.warning("optional benchmark %s skipped: %s", name, exc)
    for name, entries in scanned.items():
        logger.info("source %s: %d files", name, len(entries))
    return scanned, missing


def _reject(entry: Entry, reason: str, detail: str, image_id: str | None = None) -> Row:
    return {
        "path": entry.path,
        "source": entry.source,
        "reason": reason,
        "detail": detail,
        "image_id": image_id,
    }


def _row(entry: Entry, check: FileCheck) -> Row:
    return {
        "image_id": check.image_id,
        "path": entry.path,
        "label": entry.label,
        "generator": entry.generator,
        "category": entry.category,
        "dataset": entry.source,
        "split": "",
        "width": check.width,
        "height": check.height,
        "format": check.format,
        "mode": check.mode,
        "normalised": check.normalised,
    }


def _validate(
    root: Path, scanned: dict[str, list[Entry]], cfg: IngestConfig
) -> tuple[dict[str, list[Row]], list[Row], list[Row]]:
    """Decode the candidates; accepted rows per source (in scan order), rejections, side files."""
    candidates = [e for entries in scanned.values() for e in entries if e.reject is None]
    checks = check_files(
        [root / e.path for e in candidates],
        max_pixels=cfg.max_pixels,
        min_side=cfg.min_side,
        workers=cfg.num_workers,
        chunk_size=cfg.chunk_size,
        pool_min_files=cfg.pool_min_files,
    )
    by_entry = dict(zip(candidates, checks, strict=True))
    accepted: dict[str, list[Row]] = {name: [] for name in scanned}
    rejected: list[Row] = []
    side_files: list[Row] = []
    for name, entries in scanned.items():
        for entry in entries:
            if entry.reject is not None and entry.reject[0] == SIDE_FILE:
                side_files.append({"path": entry.path, "source": entry.source})
                continue
            if entry.reject is not None:
                rejected.append(_reject(entry, *entry.reject))
                continue
            check = by_entry[entry]
            if check.reason is not None:
                rejected.append(_reject(entry, check.reason, check.detail, check.image_id))
            else:
                accepted[name].append(_row(entry, check))
    return accepted, rejected, side_files


def _dedupe(rows: list[Row]) -> tuple[list[Row], list[Row]]:
    """Keep the first row of each image_id; the others become `duplicate` rejections."""
    kept: dict[str, Row] = {}
    rejected = []
    for row in rows:
        first = kept.get(row["image_id"])
        if first is None:
            kept[row["image_id"]] = row
            continue
        detail = f"same bytes as {first['path']} ({first['dataset']})"
        if first["label"] != row["label"]:
            detail += (
                f"; labelled {LABEL_NAMES[row['label']]} here but "
                f"{LABEL_NAMES[first['label']]} there"
            )
        rejected.append(
            {
                "path": row["path"],
                "source": row["dataset"],
                "reason": "duplicate",
                "detail": detail,
                "image_id": row["image_id"],
            }
        )
    return list(kept.values()), rejected


def _benchmark_duplicates(name: str, rows: list[Row]) -> list[Row]:
    """Every later copy (by path) of bytes that occur twice or more in benchmark `name`."""
    first: dict[str, Row] = {}
    found = []
    for row in sorted(rows, key=lambda r: r["path"]):
        seen = first.setdefault(row["image_id"], row)
        if seen is row:
            continue
        same_generator = seen["generator"] == row["generator"]
        found.append(
            {
                "benchmark": name,
                "image_id": row["image_id"],
                "path": row["path"],
                "generator": row["generator"],
                "label": row["label"],
                "first_path": seen["path"],
                "first_generator": seen["generator"],
                "scope": "within_generator" if same_generator else "across_generators",
                "label_conflict": seen["label"] != row["label"],
            }
        )
    return found


def _find_leakage(
    train: list[Row], benches: dict[str, list[Row]], drop: bool
) -> tuple[list[Row], list[Row], list[Row]]:
    """(train rows kept, leakage rows, rejections) for train images also in a benchmark."""
    in_bench: dict[str, list[Row]] = {}
    for rows in benches.values():
        for row in rows:
            in_bench.setdefault(row["image_id"], []).append(row)
    kept, leakage, rejected = [], [], []
    for row in train:
        hits = in_bench.get(row["image_id"], [])
        for hit in hits:
            leakage.append(
                {
                    "image_id": row["image_id"],
                    "train_path": row["path"],
                    "train_source": row["dataset"],
                    "benchmark": hit["dataset"],
                    "benchmark_path": hit["path"],
                    "dropped": drop,
                }
            )
        if hits and drop:
            where = ", ".join(f"{h['path']} ({h['dataset']})" for h in hits)
            rejected.append(
                {
                    "path": row["path"],
                    "source": row["dataset"],
                    "reason": "leakage",
                    "detail": f"same bytes as benchmark image {where}",
                    "image_id": row["image_id"],
                }
            )
        else:
            kept.append(row)
    return kept, leakage, rejected


def is_val(image_id: str, val_fraction: float, seed: int) -> bool:
    """Whether an image goes to val: a seeded hash of its id below `val_fraction`.

    Depends only on the image's bytes and the seed, so adding or removing other images never
    moves an image between train and val.
    """
    digest = hashlib.sha256(f"{seed}:{image_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") < val_fraction * 2**64


def _split(rows: list[Row], val_fraction: float, seed: int) -> tuple[list[Row], list[Row]]:
    train, val = [], []
    for row in rows:
        target = val if is_val(row["image_id"], val_fraction, seed) else train
        target.append({**row, "split": "val" if target is val else "train"})
    return train, val


def _generator_counts(rows: list[Row]) -> dict[str, dict[str, int]]:
    counts: dict[str, dict[str, int]] = {}
    for row in sorted(rows, key=lambda r: r["generator"]):
        per = counts.setdefault(row["generator"], {"real": 0, "fake": 0})
        per[LABEL_NAMES[row["label"]]] += 1
    return counts


def _summarise(
    scanned: dict[str, list[Entry]],
    manifests: dict[str, list[Row]],
    rejected: list[Row],
    side_files: list[Row],
    leakage: list[Row],
    duplicates: list[Row],
) -> dict[str, Any]:
    """The metrics JSON: counts that add up (accepted + rejected + side_files == seen).

    `manifests` maps manifest file names to their rows.
    """
    by_reason = Counter(r["reason"] for r in rejected)
    rejected_by_source = Counter(r["source"] for r in rejected)
    side_by_source = Counter(r["source"] for r in side_files)
    accepted_by_source: Counter[str] = Counter()
    for rows in manifests.values():
        accepted_by_source.update(r["dataset"] for r in rows)
    return {
        "seen": sum(len(e) for e in scanned.values()),
        "accepted": sum(len(rows) for rows in manifests.values()),
        "rejected": len(rejected),
        "side_files": len(side_files),
        "rejected_by_reason": dict(sorted(by_reason.items())),
        "leakage": len({r["image_id"] for r in leakage}),
        "benchmark_duplicates": len(duplicates),
        "benchmark_duplicates_by_scope": dict(
            sorted(Counter(r["scope"] for r in duplicates).items())
        ),
        "normalised": sum(1 for rows in manifests.values() for r in rows if r["normalised"]),
        "splits": {Path(name).stem: len(rows) for name, rows in manifests.items()},
        "generators": {Path(name).stem: _generator_counts(r) for name, r in manifests.items()},
        "sources": {
            name: {
                "seen": len(entries),
                "accepted": accepted_by_source[name],
                "rejected": rejected_by_source[name],
                "side_files": side_by_source[name],
            }
            for name, entries in scanned.items()
        },
    }


def _flat_counts(summary: dict[str, Any]) -> dict[str, int]:
    keys = ("seen", "accepted", "rejected", "side_files", "leakage", "benchmark_duplicates")
    keys += ("normalised",)
    flat = {k: summary[k] for k in keys}
    flat.update({f"rejected.{k}": v for k, v in summary["rejected_by_reason"].items()})
    flat.update({f"images.{k}": v for k, v in summary["splits"].items()})
    return flat


def _write_outputs(
    out_dir: Path,
    manifests: dict[str, list[Row]],
    rejected: list[Row],
    side_files: list[Row],
    leakage: list[Row],
    duplicates: list[Row],
    summary: dict[str, Any],
) -> None:
    with atomic_dir(out_dir) as tmp:
        atomic_write_json(tmp / SUMMARY_FILE, summary)
        for name, rows in manifests.items():
            write_table(tmp / name, rows, MANIFEST_SCHEMA, ("path",))
        write_table(tmp / REJECTED_FILE, rejected, REJECTED_SCHEMA, ("path", "source"))
        write_table(tmp / SIDE_FILES_FILE, side_files, SIDE_FILES_SCHEMA, ("path", "source"))
        write_table(tmp / LEAKAGE_FILE, leakage, LEAKAGE_SCHEMA, ("train_path", "benchmark_path"))
        write_table(tmp / DUPLICATES_FILE, duplicates, DUPLICATES_SCHEMA, ("benchmark", "path"))


def _assign(
    accepted: dict[str, list[Row]], rejected: list[Row], cfg: IngestConfig, seed: int
) -> tuple[dict[str, list[Row]], list[Row], list[Row], list[Row]]:
    """Dedupe train, remove leakage and split: (rows per manifest file, all rejections, leakage,
    benchmark duplicates). Benchmarks keep every accepted file."""
    rejected = list(rejected)
    train_names = [s.name for s in cfg.train_sources]
    train_pool, dupes = _dedupe([r for n in train_names for r in accepted[n]])
    rejected += dupes
    benches: dict[str, list[Row]] = {}
    duplicates: list[Row] = []
    for source in cfg.benchmarks:
        if source.name not in accepted:  # an optional benchmark that is missing
            continue
        benches[source.name] = [{**r, "split": "benchmark"} for r in accepted[source.name]]
        duplicates += _benchmark_duplicates(source.name, benches[source.name])
    train_pool, leakage, leaked = _find_leakage(train_pool, benches, cfg.drop_leakage)
    rejected += leaked
    train, val = _split(train_pool, cfg.val_fraction, seed)
    manifests = {TRAIN_FILE: train, VAL_FILE: val}
    manifests.update({benchmark_file(name): rows for name, rows in benches.items()})
    return manifests, rejected, leakage, duplicates


def _report(
    summary: dict[str, Any],
    counts: dict[str, int],
    tracker: Tracker,
    summary_path: Path,
    rejected_path: Path,
) -> None:
    logger.info(
        "ingest: %d seen, %d accepted, %d rejected %s, %d leaked, %d benchmark duplicates (kept)",
        summary["seen"],
        summary["accepted"],
        summary["rejected"],
        summary["rejected_by_reason"],
        summary["leakage"],
        summary["benchmark_duplicates"],
    )
    tracker.log_metrics(counts)
    tracker.log_artifact(summary_path, "ingest")
    tracker.log_artifact(rejected_path, "ingest")


def run_ingest(
    data_root: str | Path,
    out_dir: str | Path,
    metrics_path: str | Path,
    cfg: IngestConfig,
    *,
    seed: int,
    tracker: Tracker | None = None,
) -> StageResult:
    """Validate every source image once and write the manifests, rejections and counts.

    Args:
        data_root: folder that every source path (and every manifest path) is relative to.
        out_dir: manifest folder, replaced as a whole.
        metrics_path: headline counts JSON (`ingest_headline`; every count is in
            `<out_dir>/summary.json`).
        cfg: the `ingest` params section.
        seed: global seed (chooses the val split together with each image's hash).
        tracker: MLflow run to log counts and the rejected table to.

    Raises:
        MissingInputError: the data root, a train source or a required benchmark does not exist.
        InputError: a refusal of checks.py (nothing is written), a source escapes the data root,
            or its CSV is unusable.
    """
    tracker = tracker or Tracker()
    if not Path(data_root).is_dir():
        raise MissingInputError(
            f"data root not found: {str(data_root)!r} (pass --data-root, or build the demo data "
            "with `realign demo-data`)"
        )
    root = Path(data_root).resolve()
    scanned, missing = _scan_all(root, cfg)
    raise_refusals(check_scan(cfg, scanned))
    accepted, rejected, side_files = _validate(root, scanned, cfg)

    manifests, rejected, leakage, duplicates = _assign(accepted, rejected, cfg, seed)
    counts, folders = count_labels(
        (r["dataset"], r["generator"], r["label"], r["path"])
        for rows in manifests.values()
        for r in rows
    )
    raise_refusals([f for f in check_pools(cfg, counts, folders) if f.level == "refusal"])
    out_dir = Path(out_dir)
    summary = _summarise(scanned, manifests, rejected, side_files, leakage, duplicates)
    summary["missing_benchmarks"] = missing
    assert summary["accepted"] + summary["rejected"] + summary["side_files"] == summary["seen"]
    _write_outputs(out_dir, manifests, rejected, side_files, leakage, duplicates, summary)
    headline = ingest_headline(summary)
    atomic_write_json(metrics_path, headline)

    counts = _flat_counts(summary)
    _report(summary, counts, tracker, out_dir / SUMMARY_FILE, out_dir / REJECTED_FILE)
    outputs = {Path(name).stem: str(out_dir / name) for name in manifests}
    outputs.update(
        rejected=str(out_dir / REJECTED_FILE),
        leakage=str(out_dir / LEAKAGE_FILE),
        duplicates=str(out_dir / DUPLICATES_FILE),
        side_files=str(out_dir / SIDE_FILES_FILE),
        metrics=str(metrics_path),
    )
    seen = max(summary["seen"], 1)
    return StageResult(
        stage="ingest",
        outputs=outputs,
        counts=counts,
        metrics={**flatten(headline), "accept_rate": summary["accepted"] / seen},
        extra={
            "rejected_by_reason": summary["rejected_by_reason"],
            "missing_benchmarks": missing,
        },
    )
