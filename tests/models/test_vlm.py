"""`load_vlm`: local folders and hub ids, offline, with clear errors."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from realign_pipeline.errors import ConfigError, InputError, MissingInputError
from realign_pipeline.models import load_vlm


def test_load_local_folder(tiny_vlm_dir: Path) -> None:
    model, processor = load_vlm(tiny_vlm_dir, dtype="float32", device="cpu")
    assert type(model).__name__ == "Qwen2_5_VLForConditionalGeneration"
    assert not model.training
    assert processor.tokenizer.convert_tokens_to_ids("<|image_pad|>") == model.config.image_token_id


def test_pixel_bounds_override(tiny_vlm_dir: Path) -> None:
    _, processor = load_vlm(tiny_vlm_dir, min_pixels=784, max_pixels=784)
    assert processor.image_processor.size["longest_edge"] == 784  # Qwen's name for max_pixels
    assert processor.image_processor.size["shortest_edge"] == 784
    # the bounds are the processor's own size, not per-call kwargs: no FutureWarning per call
    from PIL import Image

    image, text = Image.new("RGB", (56, 56)), "<|vision_start|><|image_pad|><|vision_end|>x"
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        processor(images=[image], text=[text], return_tensors="pt")


def test_missing_folder_names_the_fix(tmp_path: Path) -> None:
    with pytest.raises(MissingInputError, match="realign tiny-models"):
        load_vlm(tmp_path / "nope")


def test_folder_without_config(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="config.json"):
        load_vlm(tmp_path)


def test_uncached_hub_id_offline_is_clear(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(InputError, match="HF_HUB_OFFLINE"):
        load_vlm("realign-test/not-a-cached-model")


def test_unknown_dtype(tiny_vlm_dir: Path) -> None:
    with pytest.raises(ConfigError, match="bfloat16"):
        load_vlm(tiny_vlm_dir, dtype="int4")
