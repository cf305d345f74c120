"""What cannot train or score stops ingest with exit code 2 and one line naming the folder, before
anything is written; what only looks wrong is reported by `realign data inspect`."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from realign_pipeline.cli import main
from realign_pipeline.data.inspect import inspect_data
from tests.data import replicas
from tests.data.data_helpers import REPO_ROOT, image_bytes, ingest_config, write

PARAMS = str(REPO_ROOT / "params.yaml")


def _ingest_cli(root: Path, tmp_path: Path, *sets: str) -> int:
    args = ["ingest", "--data-root", str(root), "--out", str(tmp_path / "m")]
    args += ["--metrics", str(tmp_path / "metrics.json"), "-p", PARAMS]
    args += ["-s", "tracking.enabled=false", "-s", "ingest.num_workers=1"]
    for s in sets:
        args += ["-s", s]
    return main(args)


def _demo_like(root: Path) -> None:
    """The tiny preset's folders (train/, benchmarks/demo/) with both labels everywhere."""
    for i, label in enumerate(("0_real", "1_fake")):
        write(root / "train" / "g" / label / f"{i}.png", image_bytes(i))
        write(root / "benchmarks" / "demo" / "h" / label / f"{i}.png", image_bytes(10 + i))


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        # a training set with one label only cannot learn
        (lambda r: _remove(r / "train" / "g" / "1_fake"), r"training pool has no fake image"),
        # a benchmark generator without fakes: its accuracy and AP are undefined
        (
            lambda r: _remove(r / "benchmarks" / "demo" / "h" / "1_fake"),
            r"generator 'h' has no fake image \(1 under benchmarks/demo/h/0_real\)",
        ),
        # every training file fails to decode: the pool is empty after decoding
        (
            lambda r: [p.write_bytes(b"not an image") for p in (r / "train").rglob("*.png")],
            r"no training images: no usable image under train$",
        ),
        # images directly in a generator folder: the path and the expected layout are named
        (
            lambda r: [p.rename(p.parent.parent / p.name) for p in (r / "train").rglob("*.png")],
            r"no file under train fits layout aigcdetect \(<generator>/\[<category>/\]"
            r"\{0_real,1_fake\}/<file>\), e.g. train/g/0.png",
        ),
    ],
    ids=["one_label_train", "benchmark_generator_without_fakes", "empty_pool", "layout_mismatch"],
)
def test_ingest_refuses_with_exit_2_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], damage: Any, message: str
) -> None:
    root = tmp_path / "data"
    _demo_like(root)
    damage(root)
    assert _ingest_cli(root, tmp_path) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and re.search(message, err[0]), err
    assert not (tmp_path / "m").exists() and not (tmp_path / "metrics.json").exists()


def _remove(folder: Path) -> None:
    for path in folder.iterdir():
        path.unlink()
    folder.rmdir()


def test_inspect_exits_2_naming_the_refusal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "data"
    _demo_like(root)
    _remove(root / "benchmarks" / "demo" / "h" / "0_real")
    assert main(["data", "inspect", "-p", PARAMS, "--data-root", str(root)]) == 2
    captured = capsys.readouterr()
    assert "refusals:\n  - benchmark 'demo': generator 'h' has no real image" in captured.out
    assert captured.err.count("\n") == 1 and "ingest would refuse" in captured.err


def _warnings(root: Path, **source: Any) -> list[str]:
    cfg = ingest_config(train_sources=[{"name": "s", **source}], benchmarks=[])
    return [f.message for f in inspect_data(root, cfg).findings if f.level == "warning"]


def test_cnndetection_training_set_read_as_a_benchmark_is_flagged(tmp_path: Path) -> None:
    # the bug this check exists for: 20 LSUN categories taken for 20 generators
    replicas.build_progan_train(tmp_path, "CNNDetection/train", progan_level=False)
    warnings = _warnings(tmp_path, layout="aigcdetect", path="CNNDetection/train")
    assert any("look like LSUN categories" in w and "'airplane'" in w for w in warnings), warnings


def test_benchmark_tree_read_as_categories_is_flagged(tmp_path: Path) -> None:
    replicas.build_aigcdetect_test(tmp_path, "AIGCDetectBenchmark/test")
    warnings = _warnings(tmp_path, layout="categories", path="AIGCDetectBenchmark/test")
    assert any("category 'biggan' looks like a generator" in w for w in warnings), warnings


def test_near_duplicate_names_and_one_label_generators_are_flagged(tmp_path: Path) -> None:
    write(tmp_path / "t" / "SD-v1.4" / "0_real" / "a.png", image_bytes(1))
    write(tmp_path / "t" / "sd_v14" / "1_fake" / "b.png", image_bytes(2))
    warnings = _warnings(tmp_path, layout="aigcdetect", path="t")
    assert "generator folders ['SD-v1.4', 'sd_v14'] differ only in spelling" in warnings
    assert "generator 'sd_v14' has only fake images (under t/sd_v14/1_fake)" in warnings


def test_empty_source_folder_is_refused_by_inspect(tmp_path: Path) -> None:
    (tmp_path / "t").mkdir()
    write(tmp_path / "t" / "README.md", b"# notes\n")
    cfg = ingest_config(
        train_sources=[{"name": "s", "layout": "folder", "path": "t"}], benchmarks=[]
    )
    refusals = [f.message for f in inspect_data(tmp_path, cfg).refusals]
    assert refusals[0] == (
        "source 's': t holds no image file (only 1 side files); point it at the images or remove it"
    )
