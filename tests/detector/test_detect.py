"""Batched detection over files and folders: one record per input, bad files reported."""

from __future__ import annotations

from pathlib import Path

from realign_pipeline.detector import detect_paths, expand_inputs, load_detector
from tests.conftest import REAL_WORLD


def test_expand_inputs_walks_folders_for_images_only(tmp_path: Path):
    (tmp_path / "sub").mkdir()
    for name in ("b.png", "a.JPG", "sub/c.webp", "notes.md", ".hidden.png"):
        (tmp_path / name).write_bytes(b"x")
    paths, any_dir = expand_inputs([tmp_path, tmp_path / "missing.png"])
    assert any_dir
    assert [p.relative_to(tmp_path).as_posix() for p in paths] == [
        "a.JPG",
        "b.png",
        "sub/c.webp",
        "missing.png",  # a named path that does not exist is kept and reported later
    ]


def test_detect_paths_on_real_world_fixtures(tiny_detector_dir: Path):
    detector = load_detector(tiny_detector_dir)
    records = list(detect_paths(detector, [REAL_WORLD], batch_size=1))
    images = sorted(p.name for p in REAL_WORLD.iterdir() if p.suffix in {".jpg", ".png"})
    assert sorted(Path(r["path"]).name for r in records) == images
    for record in records:
        assert 0.0 <= record["p_fake"] <= 1.0
        assert record["label"] == ("fake" if record["p_fake"] > 0.5 else "real")


def test_detect_paths_reports_bad_files_in_order(tiny_detector_dir: Path, synthetic_data):
    data_root, _ = synthetic_data
    good = sorted(data_root.rglob("*.png"))[:2]
    empty = data_root / "empty.png"
    empty.write_bytes(b"")
    text = data_root / "text.png"
    text.write_text("hello")
    inputs = [good[0], empty, data_root / "missing.jpg", text, good[1]]
    records = list(detect_paths(load_detector(tiny_detector_dir), inputs, batch_size=2))
    assert [r["path"] for r in records] == [str(p) for p in inputs]
    assert [r.get("error") for r in records] == [
        None,
        "empty_file",
        "unreadable",
        "not_an_image",
        None,
    ]
    assert {"p_fake", "label"} <= set(records[0])
