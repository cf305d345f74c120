"""Atomic writes leave the old output or the new one, never a partial file."""

from __future__ import annotations

import errno
import json
from pathlib import Path

import pandas as pd
import pytest

from realign_pipeline import atomic
from realign_pipeline.atomic import (
    atomic_dir,
    atomic_write_json,
    atomic_write_parquet,
    atomic_write_text,
)


def test_failed_write_keeps_previous_file_and_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    atomic_write_text(target, "old")
    with pytest.raises(RuntimeError), atomic.atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_disk_full_during_write_keeps_previous_output(tmp_path: Path, monkeypatch) -> None:
    target = tmp_path / "metrics.json"
    atomic_write_json(target, {"a": 1})

    def full(self, data):  # what a full disk looks like to the writer
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", full)
    with pytest.raises(OSError, match="No space left"):
        atomic_write_json(target, {"a": 2})
    monkeypatch.undo()
    assert json.loads(target.read_text()) == {"a": 1}
    assert len(list(tmp_path.iterdir())) == 1


def test_parquet_is_byte_reproducible(tmp_path: Path) -> None:
    df = pd.DataFrame({"x": [3, 1, 2], "y": ["a", "b", "c"]})
    a = atomic_write_parquet(tmp_path / "a.parquet", df).read_bytes()
    b = atomic_write_parquet(tmp_path / "b.parquet", df).read_bytes()
    assert a == b
    assert pd.read_parquet(tmp_path / "a.parquet").equals(df)


def test_json_is_stable_and_rejects_nan(tmp_path: Path) -> None:
    path = atomic_write_json(tmp_path / "m.json", {"b": 1, "a": [1, 2]})
    assert path.read_text() == '{\n  "a": [\n    1,\n    2\n  ],\n  "b": 1\n}\n'
    with pytest.raises(ValueError):
        atomic_write_json(tmp_path / "m.json", {"a": float("nan")})
    assert json.loads(path.read_text())["b"] == 1


def test_atomic_dir_swaps_whole_folder_or_nothing(tmp_path: Path) -> None:
    target = tmp_path / "model"
    with atomic_dir(target) as tmp:
        (tmp / "w.bin").write_bytes(b"v1")
    with pytest.raises(RuntimeError), atomic_dir(target) as tmp:
        (tmp / "w.bin").write_bytes(b"v2-partial")
        raise RuntimeError("crash mid-save")
    assert (target / "w.bin").read_bytes() == b"v1"
    with atomic_dir(target) as tmp:
        (tmp / "x.bin").write_bytes(b"v3")
    assert sorted(p.name for p in target.iterdir()) == ["x.bin"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_outputs_get_the_usual_permissions(tmp_path: Path) -> None:
    import os

    mask = os.umask(0o022)
    try:
        path = atomic_write_text(tmp_path / "f.txt", "x")
        with atomic_dir(tmp_path / "d") as tmp:
            (tmp / "a").write_text("y")
    finally:
        os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "d").stat().st_mode & 0o777 == 0o755
