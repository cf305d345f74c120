"""`realign demo-data` and `realign ingest` invoked in-process, as dvc.yaml runs them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from realign_pipeline.cli import main
from tests.data.data_helpers import REPO_ROOT

PARAMS = str(REPO_ROOT / "params.yaml")


def test_demo_data_then_ingest_on_the_tiny_preset(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    assert main(["demo-data", "--out", str(data), "-p", PARAMS]) == 0
    assert json.loads(capsys.readouterr().out)["counts"]["images"] == 352
    args = ["ingest", "--data-root", str(data), "--out", str(tmp_path / "manifests")]
    args += ["--metrics", str(tmp_path / "metrics" / "ingest.json"), "-p", PARAMS]
    assert main([*args, "-s", "tracking.enabled=false", "-s", "ingest.num_workers=1"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["counts"]["accepted"] == printed["counts"]["seen"] == 352
    metrics = json.loads((tmp_path / "metrics" / "ingest.json").read_text())
    assert metrics["train"] + metrics["val"] == 160
    assert metrics == {"accepted": 352, "rejected": 0, "leakage": 0, **metrics}
    assert sorted(p.name for p in (tmp_path / "manifests").iterdir()) == [
        "bench-demo.parquet",
        "duplicates.parquet",
        "leakage.parquet",
        "rejected.parquet",
        "side_files.parquet",
        "summary.json",
        "train.parquet",
        "val.parquet",
    ]


def test_ingest_without_data_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["ingest", "--data-root", str(tmp_path / "none"), "--out", str(tmp_path / "m")]
    args += ["--metrics", str(tmp_path / "i.json"), "-p", PARAMS, "-s", "tracking.enabled=false"]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: data root not found") and "\n" not in err
