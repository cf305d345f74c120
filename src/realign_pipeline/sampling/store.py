"""Shard files of generated rows: writing, reading back for resume, and merging.

Layout under the stage's output folder (e.g. `artifacts/reasoning/`):
    shards/state.json                        fingerprint of the settings the shards were made with
    shards/part-<i>-of-<n>-<seq>.parquet     one file per completed batch, written atomically
    samples.parquet (captions.parquet)       the merge: one row per generated key, sorted by key
    rejected.parquet                         keys whose image could not be read, with the reason

Columns of the merged table: `SAMPLE_COLUMNS` (realign_pipeline.samples, the contract the
review stage reads).
Shard files carry one more column: `error` (rejection reason, null for a generated row). No
timing: shards are part of a cached DVC output, so identical runs must write identical bytes.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from realign_pipeline.atomic import atomic_write_json, atomic_write_parquet
from realign_pipeline.samples import SAMPLE_COLUMNS
from realign_pipeline.sampling.plan import KEY_COLUMNS, Key, ShardSpec, make_key

logger = logging.getLogger(__name__)

__all__ = [
    "REJECTED_COLUMNS",
    "REJECTED_SCHEMA",
    "SAMPLE_COLUMNS",
    "SAMPLE_SCHEMA",
    "SHARD_DIR",
    "ShardStore",
    "done_keys",
    "merge_rows",
    "write_table",
]

SHARD_DIR = "shards"
STATE_FILE = "state.json"
SAMPLE_SCHEMA = pa.schema(
    [
        ("image_id", pa.string()),
        ("question_id", pa.string()),
        ("seed", pa.int64()),
        ("temperature", pa.float64()),
        ("path", pa.string()),
        ("label", pa.int8()),
        ("generator", pa.string()),
        ("raw_text", pa.string()),
        ("think", pa.string()),
        ("answer", pa.string()),
        ("format_ok", pa.bool_()),
        ("correct", pa.bool_()),
        ("n_tokens", pa.int32()),
        ("model_id", pa.string()),
    ]
)
SHARD_SCHEMA = SAMPLE_SCHEMA.append(pa.field("error", pa.string()))
REJECTED_COLUMNS = (*KEY_COLUMNS, "path", "label", "generator", "error")
_PROCESS_START = time.time()  # files older than this cannot be this process's writes
_PART = re.compile(r"^part-(\d{3})-of-(\d{3})-(\d{6})\.parquet$")


def _rows_to_table(rows: list[Mapping[str, Any]], schema: pa.Schema) -> pa.Table:
    columns = {name: [row.get(name) for row in rows] for name in schema.names}
    return pa.Table.from_pydict(columns, schema=schema)


@dataclass
class ShardStore:
    """The shard folder of one output directory, for one worker (`shard`)."""

    out_dir: Path
    shard: ShardSpec
    _next_seq: int | None = field(default=None, init=False, repr=False)

    @property
    def shard_dir(self) -> Path:
        """Folder holding the shard files."""
        return Path(self.out_dir) / SHARD_DIR

    def check_state(self, fingerprint: Mapping[str, Any], *, fresh: bool = False) -> int:
        """Keep the shards if they were made with `fingerprint`, else delete them (with a warning).
        `fresh` deletes them in any case (a forced rerun recomputes everything).

        Returns:
            The number of shard files deleted as stale (or discarded by `fresh`).
        """
        state_path = self.shard_dir / STATE_FILE
        try:
            previous = json.loads(state_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            previous = None  # missing or unreadable: the shards' provenance is unknown
        stale = self.discard_all() if fresh or previous != dict(fingerprint) else 0
        if stale and fresh:
            logger.info("forced rerun: discarded %d shard files in %s", stale, self.shard_dir)
        elif stale:
            logger.warning(
                "model or settings differ from those the shards in %s were made with; deleted "
                "%d stale shard files, starting over",
                self.shard_dir,
                stale,
            )
        atomic_write_json(state_path, dict(fingerprint))
        return stale

    def discard_all(self) -> int:
        """Delete every worker's shard files (a forced rerun); returns how many were deleted."""
        paths = self._part_files(all_shards=True)
        for path in paths:
            path.unlink(missing_ok=True)
        return len(paths)

    def _part_files(self, all_shards: bool) -> list[Path]:
        if not self.shard_dir.is_dir():
            return []
        files = []
        for path in sorted(self.shard_dir.iterdir()):
            match = _PART.match(path.name)
            if not match:
                continue
            mine = (int(match.group(1)), int(match.group(2))) == (
                self.shard.index,
                self.shard.count,
            )
            if all_shards or mine:
                files.append(path)
        return files

    def read_all(self) -> tuple[pd.DataFrame, int]:
        """Rows of every readable shard file (all workers), in file-name order.

        Unreadable or truncated files (from a copy or a disk fault; our own writes are atomic)
        are deleted with a warning, so their keys are generated again.

        Returns:
            (rows with the shard columns, number of files removed).
        """
        self._remove_own_temp_files()
        tables, removed = [], 0
        for path in self._part_files(all_shards=True):
            try:
                table = pq.read_table(path)
                table = table.select(SHARD_SCHEMA.names).cast(SHARD_SCHEMA)
            except (OSError, ValueError, KeyError, pa.ArrowException) as exc:
                logger.warning(
                    "unreadable shard %s (%s); removing it, its keys will be redone", path, exc
                )
                path.unlink(missing_ok=True)
                removed += 1
                continue
            tables.append(table)
        if not tables:
            return SHARD_SCHEMA.empty_table().to_pandas(), removed
        return pa.concat_tables(tables).to_pandas(), removed

    def _remove_own_temp_files(self) -> None:
        """Delete temp files that a killed run's atomic writes left in the output folder.

        They are hidden and never read, but they sit inside the stage's output folder (which
        DVC hashes). Other workers may be writing at the same time, so only this worker's own
        shard names are touched, and merged-table temp files only when older than this process
        (a merge in flight elsewhere takes milliseconds and started after us).
        """
        stale = list(self.shard_dir.glob(f".part-{self.shard.name}-*.tmp"))
        for path in Path(self.out_dir).glob(".*.parquet.*.tmp"):
            try:
                if path.stat().st_mtime < _PROCESS_START:
                    stale.append(path)
            except FileNotFoundError:
                continue  # its writer just renamed it
        for path in stale:
            logger.info("removing %s, left by an interrupted write", path.name)
            path.unlink(missing_ok=True)

    def next_path(self) -> Path:
        """Path of this worker's next shard file (sequence after the last one on disk)."""
        if self._next_seq is None:  # list the folder once, then count on
            seqs = [int(_PART.match(p.name).group(3)) for p in self._part_files(all_shards=False)]
            self._next_seq = max(seqs, default=-1) + 1
        return self.shard_dir / f"part-{self.shard.name}-{self._next_seq:06d}.parquet"

    def write(self, rows: list[Mapping[str, Any]]) -> Path:
        """Write one completed batch's rows atomically as this worker's next shard file."""
        path = self.next_path()
        atomic_write_parquet(path, _rows_to_table(rows, SHARD_SCHEMA))
        self._next_seq = (self._next_seq or 0) + 1
        return path


def done_keys(rows: pd.DataFrame) -> set[Key]:
    """Keys present in shard rows (generated or rejected)."""
    return {
        make_key(*values) for values in rows[list(KEY_COLUMNS)].itertuples(index=False, name=None)
    }


def merge_rows(rows: pd.DataFrame, keys: Iterable[Key]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Reduce shard rows to the plan's keys, one row per key, sorted by key.

    Rows for keys outside the plan (an earlier, larger run) are left out; a key found twice
    (two workers given overlapping slices) keeps its first row in shard-file order.

    Returns:
        (samples with `SAMPLE_COLUMNS`, rejected with `REJECTED_COLUMNS`).
    """
    wanted = set(keys)
    key_list = [make_key(*v) for v in rows[list(KEY_COLUMNS)].itertuples(index=False, name=None)]
    mask = [key in wanted for key in key_list]
    kept = rows.loc[mask].drop_duplicates(list(KEY_COLUMNS), keep="first")
    kept = kept.sort_values(list(KEY_COLUMNS), kind="stable").reset_index(drop=True)
    failed = kept["error"].notna()
    samples = kept.loc[~failed, list(SAMPLE_COLUMNS)].reset_index(drop=True)
    rejected = kept.loc[failed, list(REJECTED_COLUMNS)].reset_index(drop=True)
    return samples, rejected


def write_table(path: Path, frame: pd.DataFrame, schema: pa.Schema) -> Path:
    """Write `frame` with an explicit schema (stable types even when empty), atomically."""
    table = pa.Table.from_pandas(frame, schema=schema, preserve_index=False)
    return atomic_write_parquet(path, table)


REJECTED_SCHEMA = pa.schema([SHARD_SCHEMA.field(name) for name in REJECTED_COLUMNS])
