"""Ingest reads the public data sets exactly as they ship (miniature replicas built by
tests/data/replicas.py): every image under the right label, generator and category, side files
recorded and never taken for images, and the paper presets find their data under the shipped
folder names."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from realign_pipeline.cli import main
from realign_pipeline.config import load_params
from realign_pipeline.config.ingest import SourceConfig
from realign_pipeline.data import run_ingest
from realign_pipeline.data.inspect import inspect_data
from realign_pipeline.data.scan import SIDE_FILE, scan_source
from tests.data import replicas
from tests.data.data_helpers import REPO_ROOT, ingest_config

EXTENSIONS = frozenset(ingest_config().extensions)
FOUR_CLASSES = ["car", "cat", "chair", "horse"]

# data set: (replica builder, source as a preset declares it)
CASES: dict[str, tuple[Callable[[Path], replicas.Replica], dict[str, Any]]] = {
    # CNNDetection's trainset.zip: train/<category>/{0_real,1_fake}; generator named by the source
    "cnndetection-train": (
        lambda r: replicas.build_progan_train(r, "CNNDetection/train", progan_level=False),
        {"layout": "categories", "generator": "progan", "path": "CNNDetection/train"},
    ),
    # UniversalFakeDetect's README: datasets/train/progan/<category>/...; the level names it
    "universalfakedetect-train": (
        lambda r: replicas.build_progan_train(r, "datasets/train", progan_level=True),
        {"layout": "categories", "path": "datasets/train"},
    ),
    "aigcdetect-test": (
        lambda r: replicas.build_aigcdetect_test(r, "AIGCDetectBenchmark/test"),
        {"layout": "aigcdetect", "path": "AIGCDetectBenchmark/test"},
    ),
    "holmes-train": (
        lambda r: replicas.build_holmes(r, "AIGI-Holmes", "aigi_holmes_train"),
        {"name": "aigi_holmes_train", "layout": "folder", "path": "AIGI-Holmes/dataset"},
    ),
    "holmes-test": (
        lambda r: replicas.build_holmes(r, "AIGI-Holmes", "aigi_holmes_train"),
        {"layout": "aigcdetect", "path": "AIGI-Holmes/TestSet"},
    ),
    "genimage-val": (
        lambda r: replicas.build_genimage(r, "GenImage", "val"),
        {"layout": "genimage", "split": "val", "path": "GenImage"},
    ),
    "genimage-train": (
        lambda r: replicas.build_genimage(r, "GenImage", "train"),
        {"layout": "genimage", "split": "train", "path": "GenImage"},
    ),
    "chameleon": (
        lambda r: replicas.build_chameleon(r, "Chameleon/test", "Chameleon"),
        {"layout": "folder", "generator": "Chameleon", "path": "Chameleon/test"},
    ),
}


def _scan(root: Path, source: dict[str, Any]) -> dict[str, Any]:
    cfg = SourceConfig.model_validate({"name": "src", **source})
    entries = scan_source(root.resolve(), cfg, "ingest.train_sources[0]", EXTENSIONS)
    return {
        "images": {e.path: (e.label, e.generator, e.category) for e in entries if not e.reject},
        "side_files": {e.path for e in entries if e.reject and e.reject[0] == SIDE_FILE},
        "rejected": {e.path: e.reject for e in entries if e.reject and e.reject[0] != SIDE_FILE},
    }


@pytest.mark.parametrize("case", list(CASES))
def test_every_image_of_a_public_layout_gets_its_label_generator_and_category(
    tmp_path: Path, case: str
) -> None:
    build, source = CASES[case]
    replica = build(tmp_path)
    inside = f"{source['path']}/"
    got = _scan(tmp_path, source)
    assert got["rejected"] == {}
    assert got["images"] == {p: v for p, v in replica.images.items() if p.startswith(inside)}
    assert got["side_files"] == {p for p in replica.side_files if p.startswith(inside)}


def test_genimage_folder_of_one_generator_takes_the_declared_generator(tmp_path: Path) -> None:
    replica = replicas.build_genimage(tmp_path, "GenImage", "val")
    path = "GenImage/stable_diffusion_v_1_4/imagenet_ai_0419_sdv4"
    got = _scan(tmp_path, {"layout": "genimage", "split": "val", "path": path, "generator": "sd14"})
    want = {p: (v[0], "sd14", "") for p, v in replica.images.items() if p.startswith(path)}
    assert got["images"] == want and len(want) == 2


@pytest.mark.parametrize(
    ("base", "source"),
    [
        ("CNNDetection/train", {"generator": "progan", "path": "CNNDetection/train"}),
        ("datasets/train", {"path": "datasets/train"}),  # with the progan/ level
    ],
)
def test_four_class_filter_works_with_and_without_a_progan_level(
    tmp_path: Path, base: str, source: dict[str, Any]
) -> None:
    replicas.build_progan_train(tmp_path, base, progan_level=base == "datasets/train")
    got = _scan(tmp_path, {"layout": "categories", "categories": FOUR_CLASSES, **source})
    assert sorted({c for _, _, c in got["images"].values()}) == FOUR_CLASSES
    assert {(g, label) for label, g, _ in got["images"].values()} == {("progan", 0), ("progan", 1)}
    assert len(got["images"]) == 8


def _preset_data(root: Path) -> None:
    """One data root holding every data set under the folder names the paper presets declare."""
    replicas.build_progan_train(root, "CNNDetection/train", progan_level=False)
    replicas.build_aigcdetect_test(root, "AIGCDetectBenchmark/test")
    replicas.build_holmes(root, "AIGI-Holmes", "aigi_holmes_train")


@pytest.mark.parametrize(
    ("preset", "generators"),
    [
        (
            "paper-aigcdetect",
            {"progan_train": ["progan"], "aigcdetect": list(replicas.AIGCDETECT_TEST)},
        ),
        (
            "paper-holmes",
            {"aigi_holmes_train": ["aigi_holmes_train"], "aigi_holmes": replicas.HOLMES_TEST},
        ),
    ],
)
def test_paper_presets_find_their_data_under_the_shipped_names(
    tmp_path: Path, preset: str, generators: dict[str, list[str]]
) -> None:
    _preset_data(tmp_path)
    report = inspect_data(tmp_path, load_params(REPO_ROOT / "presets" / f"{preset}.yaml").ingest)
    assert report.refusals == []
    found = {s.name: sorted(s.generators) for s in report.sources if s.status == "found"}
    assert found == {name: sorted(gens) for name, gens in generators.items()}
    if preset == "paper-holmes":  # UltraSynth-10k has no public source: optional, reported
        assert [(s.name, s.status) for s in report.sources][-1] == ("ultrasynth", "missing")
        assert any("UltraSynth-10k" in f.message for f in report.findings)


def test_holmes_preset_ingests_without_ultrasynth_and_records_the_jsonl(tmp_path: Path) -> None:
    data = tmp_path / "data"
    replica = replicas.build_holmes(data, "AIGI-Holmes", "aigi_holmes_train")
    cfg = load_params(REPO_ROOT / "presets" / "paper-holmes.yaml").ingest
    cfg = cfg.model_copy(update={"val_fraction": 0.0, "num_workers": 1})
    out = tmp_path / "manifests"
    result = run_ingest(data, out, tmp_path / "ingest.json", cfg, seed=0)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["missing_benchmarks"] == ["ultrasynth"] and summary["rejected"] == 0
    assert summary["seen"] == summary["accepted"] + summary["side_files"]
    side = pd.read_parquet(out / "side_files.parquet")
    assert set(side["path"]) == replica.side_files
    assert not (out / "bench-ultrasynth.parquet").exists()
    assert result.extra["missing_benchmarks"] == ["ultrasynth"]
    bench = pd.read_parquet(out / "bench-aigi_holmes.parquet")
    assert sorted(set(bench["generator"])) == sorted(replicas.HOLMES_TEST)


def test_inspect_cli_prints_json_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _preset_data(tmp_path)
    before = sorted(tmp_path.rglob("*"))
    params = str(REPO_ROOT / "presets" / "paper-aigcdetect.yaml")
    assert main(["data", "inspect", "-p", params, "--data-root", str(tmp_path), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    train = printed["sources"][0]
    assert (train["name"], train["layout"], train["categories"]) == (
        "progan_train",
        "categories",
        replicas.LSUN_20,
    )
    assert train["generators"] == {"progan": {"real": 20, "fake": 20}}
    assert train["side_files"] == 2 and printed["refusals"] == []
    assert sorted(tmp_path.rglob("*")) == before
