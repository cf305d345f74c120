"""Each source layout (aigcdetect with and without categories, folder, csv) and its errors."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from realign_pipeline.config.ingest import SourceConfig
from realign_pipeline.data import run_ingest
from realign_pipeline.data.scan import scan_source
from realign_pipeline.errors import ConfigError, InputError, MissingInputError
from tests.data.data_helpers import image_bytes, ingest_config, write


def _ingest(root: Path, tmp_path: Path, source: dict, **updates: object) -> dict[str, pd.DataFrame]:
    cfg = ingest_config(train_sources=[source], benchmarks=[], val_fraction=0.0, **updates)
    out = tmp_path / "manifests"
    run_ingest(root, out, tmp_path / "ingest.json", cfg, seed=0)
    return {p.stem: pd.read_parquet(p) for p in out.glob("*.parquet")}


def test_aigcdetect_pools_categories_per_generator(tmp_path: Path) -> None:
    root = tmp_path / "data"
    write(root / "src" / "progan" / "car" / "0_real" / "a.png", image_bytes(1))
    write(root / "src" / "progan" / "cat" / "1_fake" / "b.png", image_bytes(2))
    write(root / "src" / "sdxl" / "0_real" / "c.png", image_bytes(3))  # no category level
    write(root / "src" / "sdxl" / "1_fake" / "d.jpg", image_bytes(4, fmt="JPEG"))
    train = _ingest(root, tmp_path, {"name": "s", "layout": "aigcdetect", "path": "src"})["train"]
    got = train[["path", "label", "generator", "category", "dataset", "format"]].to_dict("records")
    assert got == [
        {"path": "src/progan/car/0_real/a.png", "label": 0, "generator": "progan",
         "category": "car", "dataset": "s", "format": "PNG"},
        {"path": "src/progan/cat/1_fake/b.png", "label": 1, "generator": "progan",
         "category": "cat", "dataset": "s", "format": "PNG"},
        {"path": "src/sdxl/0_real/c.png", "label": 0, "generator": "sdxl",
         "category": "", "dataset": "s", "format": "PNG"},
        {"path": "src/sdxl/1_fake/d.jpg", "label": 1, "generator": "sdxl",
         "category": "", "dataset": "s", "format": "JPEG"},
    ]  # fmt: skip


@pytest.mark.parametrize(("real_dir", "fake_dir"), [("0_real", "1_fake"), ("real", "fake")])
def test_folder_layout_accepts_both_label_folder_names(
    tmp_path: Path, real_dir: str, fake_dir: str
) -> None:
    root = tmp_path / "data"
    write(root / "f" / real_dir / "a.png", image_bytes(1))
    write(root / "f" / fake_dir / "b.png", image_bytes(2))
    train = _ingest(root, tmp_path, {"name": "myset", "layout": "folder", "path": "f"})["train"]
    labels = dict(zip(train["path"], train["label"], strict=True))
    assert labels == {f"f/{real_dir}/a.png": 0, f"f/{fake_dir}/b.png": 1}
    assert set(train["generator"]) == {"myset"}  # folder layout: generator = source name


def test_csv_layout_reads_rows_and_rejects_bad_ones(tmp_path: Path) -> None:
    root = tmp_path / "data"
    write(root / "imgs" / "a.png", image_bytes(1))
    write(root / "imgs" / "b.png", image_bytes(2))
    write(root / "imgs" / "c.png", image_bytes(3))
    rows = [
        "file,y,gen",
        "../imgs/a.png,real,camera",  # relative to the CSV's folder
        "../imgs/b.png,1,sdxl",
        "../imgs/c.png,maybe,sdxl",  # label not 0/1/real/fake
        "../imgs/missing.png,0,camera",  # file absent
        "../../outside.png,0,camera",  # leaves the data root
        ",1,sdxl",  # no path
    ]
    write(root / "lists" / "train.csv", ("\n".join(rows) + "\n").encode())
    source = {
        "name": "c",
        "layout": "csv",
        "path": "lists/train.csv",
        "csv": {"path_column": "file", "label_column": "y", "generator_column": "gen"},
    }
    out = _ingest(root, tmp_path, source)
    train = out["train"]
    assert train[["path", "label", "generator"]].to_dict("records") == [
        {"path": "imgs/a.png", "label": 0, "generator": "camera"},
        {"path": "imgs/b.png", "label": 1, "generator": "sdxl"},
    ]
    reasons = dict(zip(out["rejected"]["path"], out["rejected"]["reason"], strict=True))
    assert reasons == {
        "imgs/c.png": "unknown_label",
        "imgs/missing.png": "missing_file",
        "../outside.png": "path_outside_root",
        "<row 7>": "missing_path",
    }


CSV_SOURCE = {  # l.csv with path and label columns, no generator column
    "name": "cs",
    "layout": "csv",
    "path": "l.csv",
    "csv": {"path_column": "path", "label_column": "label", "generator_column": None},
}


def test_csv_without_generator_column_uses_source_name(tmp_path: Path) -> None:
    root = tmp_path / "data"
    write(root / "a.png", image_bytes(1))
    write(root / "b.png", image_bytes(2))
    write(root / "l.csv", b"path,label\na.png,fake\nb.png,real\n")
    train = _ingest(root, tmp_path, CSV_SOURCE)["train"]
    assert train[["generator", "label"]].to_dict("records") == [
        {"generator": "cs", "label": 1},
        {"generator": "cs", "label": 0},
    ]


def test_csv_missing_column_is_a_clear_error(tmp_path: Path) -> None:
    root = tmp_path / "data"
    write(root / "l.csv", b"file,label\na.png,1\n")
    with pytest.raises(InputError, match=r"lacks columns \['path'\]; it has \['file', 'label'\]"):
        _ingest(root, tmp_path, CSV_SOURCE)


def test_missing_data_root_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(MissingInputError, match="data root not found.*realign demo-data"):
        _ingest(tmp_path / "nope", tmp_path, {"name": "s", "layout": "aigcdetect", "path": "x"})


def test_missing_source_folder_names_the_source(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    with pytest.raises(MissingInputError, match=r"source 'mysrc'.*'absent'.*train_sources\[0\]"):
        _ingest(
            tmp_path / "data", tmp_path, {"name": "mysrc", "layout": "aigcdetect", "path": "absent"}
        )


def test_empty_source_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "data" / "empty" / "g" / "0_real").mkdir(parents=True)
    with pytest.raises(InputError, match="source 'e': empty holds no image file"):
        _ingest(tmp_path / "data", tmp_path, {"name": "e", "layout": "aigcdetect", "path": "empty"})


def test_source_outside_data_root_is_refused(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    write(tmp_path / "elsewhere" / "g" / "0_real" / "a.png", image_bytes(1))
    with pytest.raises(InputError, match="resolves outside the data root"):
        _ingest(
            tmp_path / "data",
            tmp_path,
            {"name": "o", "layout": "aigcdetect", "path": "../elsewhere"},
        )


def test_symlinked_folder_inside_root_is_followed(tmp_path: Path) -> None:
    root = tmp_path / "data"
    write(root / "store" / "a.png", image_bytes(1))
    (root / "src" / "g").mkdir(parents=True)
    (root / "src" / "g" / "0_real").symlink_to(root / "store", target_is_directory=True)
    write(root / "src" / "g" / "1_fake" / "b.png", image_bytes(2))
    train = _ingest(root, tmp_path, {"name": "s", "layout": "aigcdetect", "path": "src"})["train"]
    assert list(train["path"]) == ["src/g/0_real/a.png", "src/g/1_fake/b.png"]


def _progan(root: Path) -> None:
    for i, category in enumerate(("airplane", "car", "cat", "chair", "horse")):
        for label in ("0_real", "1_fake"):
            write(root / "train" / "progan" / category / label / f"{i}.png", image_bytes(i))


def test_category_filter_keeps_the_4_class_progan_setting(tmp_path: Path) -> None:
    _progan(tmp_path)
    source = SourceConfig(
        name="progan",
        layout="aigcdetect",
        path="train",
        categories=["car", "cat", "chair", "horse"],
    )
    entries = scan_source(tmp_path, source, "ingest.train_sources[0]", frozenset({".png"}))
    assert sorted({e.category for e in entries}) == ["car", "cat", "chair", "horse"]
    assert len(entries) == 8 and {e.generator for e in entries} == {"progan"}
    every = SourceConfig(name="progan", layout="aigcdetect", path="train")  # 20-class: all
    assert len(scan_source(tmp_path, every, "k", frozenset({".png"}))) == 10


def test_category_filter_names_a_missing_category(tmp_path: Path) -> None:
    _progan(tmp_path)
    source = SourceConfig(name="p", layout="aigcdetect", path="train", categories=["cars"])
    with pytest.raises(ConfigError, match=r"ingest.train_sources\[0\].categories: \['cars'\]"):
        scan_source(tmp_path, source, "ingest.train_sources[0]", frozenset({".png"}))


def test_category_filter_needs_the_aigcdetect_layout() -> None:
    with pytest.raises(ValueError, match="needs layout aigcdetect"):
        SourceConfig(name="p", layout="folder", path="x", categories=["car"])
