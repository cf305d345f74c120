"""Training rows and TRL datasets from manifests: rejections, clear errors, lazy images."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from realign_pipeline.errors import InputError, MissingInputError
from realign_pipeline.grpo.data import (
    create_grpo_dataset,
    create_sft_dataset,
    load_rows,
    select_balanced,
)
from realign_pipeline.prompts import PAPER_QUESTION
from tests.conftest import make_manifest


def _write(df: pd.DataFrame, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_parquet(path, index=False)
    return path


def test_load_rows_rejects_missing_and_escaping_paths(tmp_path: Path) -> None:
    root = tmp_path / "data"
    df = make_manifest(root, n_per_class=3)
    (root / df.loc[0, "path"]).unlink()  # deleted after ingest
    df.loc[1, "path"] = "../outside.png"  # escapes the data root
    rows, rejected = load_rows(_write(df, tmp_path / "m.parquet"), root, limit=None, seed=0)
    assert len(rows) + len(rejected) == len(df)  # nothing lost
    assert sorted(rejected["reason"]) == ["missing_file", "path_outside_data_root"]
    assert set(rows["label"]) == {0, 1}


def test_zero_usable_images_is_a_clear_error(tmp_path: Path) -> None:
    df = make_manifest(tmp_path / "data", n_per_class=2)
    with pytest.raises(InputError, match="no usable image.*--data-root"):
        load_rows(_write(df, tmp_path / "m.parquet"), tmp_path / "elsewhere", limit=None, seed=0)


def test_one_class_is_a_clear_error(tmp_path: Path) -> None:
    df = make_manifest(tmp_path / "data", n_per_class=2)
    only_real = _write(df[df["label"] == 0], tmp_path / "real.parquet")
    with pytest.raises(InputError, match="needs both real and fake"):
        load_rows(only_real, tmp_path / "data", limit=None, seed=0)


def test_one_usable_class_after_rejections_is_a_clear_error(tmp_path: Path) -> None:
    root = tmp_path / "data"
    df = make_manifest(root, n_per_class=2)
    for rel in df.loc[df["label"] == 1, "path"]:
        (root / rel).unlink()
    with pytest.raises(InputError, match="all real"):
        load_rows(_write(df, tmp_path / "m.parquet"), root, limit=None, seed=0)


def test_missing_manifest(tmp_path: Path) -> None:
    with pytest.raises(MissingInputError, match="realign ingest"):
        load_rows(tmp_path / "nope.parquet", tmp_path, limit=None, seed=0)


def test_select_balanced_alternates_labels_deterministically(tmp_path: Path) -> None:
    df = make_manifest(tmp_path, n_per_class=5)
    first = select_balanced(df, 6, seed=3)
    assert list(first["label"]) == [0, 1, 0, 1, 0, 1]
    assert first["image_id"].tolist() == select_balanced(df, 6, seed=3)["image_id"].tolist()
    assert len(select_balanced(df, None, seed=3)) == len(df)


def test_grpo_dataset_is_trl_vlm_format_with_lazy_images(synthetic_data) -> None:
    root, manifest = synthetic_data
    rows, _ = load_rows(manifest, root, limit=None, seed=0)
    dataset = create_grpo_dataset(rows, root, "system text")
    assert "image" not in dataset.column_names  # decoded only when indexed
    example = dataset[0]
    assert isinstance(example["image"], Image.Image) and example["image"].mode == "RGB"
    system, user = example["prompt"]
    assert system == {"role": "system", "content": [{"type": "text", "text": "system text"}]}
    assert user["content"] == [{"type": "image"}, {"type": "text", "text": PAPER_QUESTION}]
    assert example["label"] in (0, 1) and len(example["image_id"]) == 64


def test_image_that_no_longer_decodes_names_the_file(synthetic_data) -> None:
    root, manifest = synthetic_data
    rows, _ = load_rows(manifest, root, limit=None, seed=0)
    (root / rows.loc[0, "path"]).write_bytes(b"not a png")
    with pytest.raises(InputError, match="no longer decodes"):
        create_grpo_dataset(rows, root, None)[0]


def test_sft_dataset_has_format_completion_with_the_label(synthetic_data) -> None:
    root, manifest = synthetic_data
    rows, _ = load_rows(manifest, root, limit=None, seed=0)
    example = create_sft_dataset(rows, root, None)[0]
    assert len(example["prompt"]) == 1  # no system turn
    text = example["completion"][0]["content"][0]["text"]
    answer = "fake" if example["label"] else "real"
    assert text.startswith("<think>") and text.endswith(f"</think><answer>{answer}</answer>")
