"""Tree identity: one SHA-256 helper, and DVC's recorded md5 trusted only while it still holds."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from realign_pipeline.digest import compute_sha256, identify_tree, recorded_md5


def _tree(root: Path) -> Path:
    (root / "sub").mkdir(parents=True)
    (root / "a.bin").write_bytes(b"weights")
    (root / "sub" / "b.json").write_text("{}")
    return root


def test_sha256_of_a_file_is_its_bytes_and_of_a_folder_its_names_and_bytes(tmp_path: Path) -> None:
    model = _tree(tmp_path / "model")
    assert compute_sha256(model / "a.bin") == hashlib.sha256(b"weights").hexdigest()
    expected = hashlib.sha256(b"a.bin\0weights" + b"sub/b.json\0{}").hexdigest()
    assert compute_sha256(model) == expected
    (model / "sub" / "b.json").rename(model / "sub" / "c.json")  # same bytes, new name
    assert compute_sha256(model) != expected


@pytest.fixture(scope="module")
def dvc_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real DVC project whose stage `train` wrote the folder `model` (dvc.lock records it)."""
    repo = tmp_path_factory.mktemp("repo")
    script = "import pathlib; p = pathlib.Path('model/sub'); p.mkdir(parents=True); "
    script += "(p.parent / 'a.bin').write_bytes(b'weights'); (p / 'b.json').write_text('{}')"
    dvc = [sys.executable, "-m", "dvc"]
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
    subprocess.run([*dvc, "init", "--no-scm", "-q"], cwd=repo, check=True, env=env)
    add = [*dvc, "stage", "add", "-q", "-n", "train", "-o", "model", f'python -c "{script}"']
    subprocess.run(add, cwd=repo, check=True, env=env)
    subprocess.run([*dvc, "repro", "-q"], cwd=repo, check=True, env=env)
    return repo


def test_dvc_recorded_md5_names_an_unchanged_output(dvc_repo: Path) -> None:
    md5 = recorded_md5(dvc_repo / "model")
    assert md5 is not None and md5.endswith(".dir")
    assert identify_tree(dvc_repo / "model") == f"md5:{md5}"
    assert recorded_md5(dvc_repo / "model" / "sub") is None  # not a stage output itself


def test_a_changed_output_is_hashed_instead(dvc_repo: Path, tmp_path: Path) -> None:
    lock = dvc_repo / "dvc.lock"
    weights = dvc_repo / "model" / "a.bin"
    later = lock.stat().st_mtime_ns + 10**9
    original = weights.read_bytes()
    try:
        weights.write_bytes(b"WEIGHTS")  # retrained outside dvc: same size, newer
        os.utime(weights, ns=(later, later))
        assert recorded_md5(dvc_repo / "model") is None
        assert identify_tree(dvc_repo / "model") == f"sha256:{compute_sha256(dvc_repo / 'model')}"
    finally:
        weights.write_bytes(original)
        os.utime(weights, ns=(lock.stat().st_mtime_ns - 10**9,) * 2)
    assert recorded_md5(dvc_repo / "model") is not None
    (dvc_repo / "model" / "extra.txt").write_text("x")  # one more file
    try:
        os.utime(dvc_repo / "model" / "extra.txt", ns=(lock.stat().st_mtime_ns - 10**9,) * 2)
        assert recorded_md5(dvc_repo / "model") is None
    finally:
        (dvc_repo / "model" / "extra.txt").unlink()
    assert recorded_md5(_tree(tmp_path / "model")) is None  # no dvc.lock above it
