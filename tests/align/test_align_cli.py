"""`realign align` and `realign detect` in-process, on the tiny preset."""

from __future__ import annotations

import json
from pathlib import Path

from realign_pipeline.cli import main
from tests.conftest import REAL_WORLD, argv


def test_align_then_detect_real_world_fixtures(align_inputs, tmp_path, capsys):
    det = tmp_path / "det"
    code = main(
        argv(
            "align",
            pairs=align_inputs["pairs"],
            val_manifest=align_inputs["val"],
            data_root=align_inputs["data_root"],
            out=det,
            plots=tmp_path / "report",
            ckpt_dir=tmp_path / "ckpt",
            metrics=tmp_path / "metrics.json",
            set=["tracking.enabled=false", "align.num_train_epochs=1"],
        )
    )
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert result["outputs"]["detector"] == str(det)
    assert (tmp_path / "report" / "loss.csv").is_file()

    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 truncated")
    assert main(["detect", str(REAL_WORLD), str(broken), "--detector", str(det)]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert len(lines) == 3
    names = [Path(r["path"]).name for r in lines]
    assert names == ["fake_dalle_zzrybysskm.png", "real_aadlygmazf.jpg", "broken.jpg"]
    for record in lines[:2]:
        assert 0.0 <= record["p_fake"] <= 1.0 and record["label"] in {"real", "fake"}
    assert lines[2]["error"] in {"truncated_or_corrupt", "not_an_image"}


def test_detect_without_detector_is_a_one_line_error(tmp_path, capsys):
    assert main(["detect", str(tmp_path), "--detector", str(tmp_path / "none")]) == 2
    assert "realign align" in capsys.readouterr().err
