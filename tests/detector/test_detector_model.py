"""The deployable detector: save/load round trip, spec checks, pickle refusal, transform."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from PIL import Image

from realign_pipeline.detector import (
    SPEC_FILE,
    WEIGHTS_FILE,
    Detector,
    DetectorSpec,
    create_detector,
    create_model_transform,
    load_detector,
    read_spec,
)
from realign_pipeline.errors import InputError, MissingInputError


def test_load_detector_round_trip_gives_same_logits(tiny_spec: DetectorSpec, tmp_path: Path):
    from realign_pipeline.detector import save_detector

    torch.manual_seed(1)
    original = create_detector(tiny_spec).eval()
    save_detector(original, tmp_path / "det")
    loaded = load_detector(tmp_path / "det")
    pixels = torch.randn(3, 3, tiny_spec.image_size, tiny_spec.image_size)
    assert isinstance(loaded, Detector)
    assert not loaded.training
    assert loaded.spec == tiny_spec
    with torch.no_grad():
        torch.testing.assert_close(loaded(pixels), original(pixels), rtol=0, atol=0)
    proba = loaded.predict_proba(pixels)
    assert proba.shape == (3,)
    assert bool(((proba >= 0) & (proba <= 1)).all())


def test_saved_detector_holds_no_text_tower(tiny_detector_dir: Path):
    from safetensors import safe_open

    with safe_open(str(tiny_detector_dir / WEIGHTS_FILE), "pt") as handle:
        keys = list(handle.keys())
    assert keys
    assert all(k.startswith(("visual.", "head.")) for k in keys)
    assert sorted(p.name for p in tiny_detector_dir.iterdir()) == [SPEC_FILE, WEIGHTS_FILE]


@pytest.mark.parametrize(
    "payload",
    [
        "torch_save_zip",  # torch.save's default zip container (pickle inside)
        "raw_pickle",  # a legacy pickle stream
    ],
)
def test_load_detector_refuses_pickle_payload(tiny_detector_dir: Path, payload: str):
    weights = tiny_detector_dir / WEIGHTS_FILE
    state = {"visual.x": torch.zeros(1)}
    torch.save(state, weights, _use_new_zipfile_serialization=payload == "torch_save_zip")
    with pytest.raises(InputError, match="pickle"):
        load_detector(tiny_detector_dir)


def test_load_detector_refuses_pickle_only_folder(tiny_detector_dir: Path):
    (tiny_detector_dir / WEIGHTS_FILE).unlink()
    torch.save({"visual.x": torch.zeros(1)}, tiny_detector_dir / "pytorch_model.bin")
    with pytest.raises(MissingInputError, match="pickle formats and refused"):
        load_detector(tiny_detector_dir)


def test_load_detector_rejects_garbage_weights(tiny_detector_dir: Path):
    (tiny_detector_dir / WEIGHTS_FILE).write_bytes(b"not a weights file at all")
    with pytest.raises(InputError, match="not a safetensors file"):
        load_detector(tiny_detector_dir)


def test_load_detector_rejects_weights_of_another_architecture(
    tiny_detector_dir: Path, tiny_spec: DetectorSpec
):
    data = tiny_spec.to_json_dict()
    data["head"]["hidden_dim"] = 7  # weights were saved with 16
    (tiny_detector_dir / SPEC_FILE).write_text(json.dumps(data))
    with pytest.raises(InputError, match="do not match the spec's architecture"):
        load_detector(tiny_detector_dir)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"format_version": 99}, "format_version 99"),  # newer format
        ({"threshold": 1.5}, "threshold"),  # out of (0, 1)
        ({"surprise": 1}, "surprise"),  # unknown key
    ],
)
def test_read_spec_rejects_bad_specs(
    tiny_detector_dir: Path, tiny_spec: DetectorSpec, change: dict, message: str
):
    data = {**tiny_spec.to_json_dict(), **change}
    (tiny_detector_dir / SPEC_FILE).write_text(json.dumps(data))
    with pytest.raises(InputError, match=message):
        read_spec(tiny_detector_dir)


def test_load_detector_missing_folder_names_the_fix(tmp_path: Path):
    with pytest.raises(MissingInputError, match="realign align"):
        load_detector(tmp_path / "nowhere")


def test_model_transform_gives_spec_sized_tensor(tiny_spec: DetectorSpec):
    transform = create_model_transform(tiny_spec)
    out = transform(Image.new("RGB", (50, 80), (255, 0, 0)))
    assert out.shape == (3, tiny_spec.image_size, tiny_spec.image_size)
    expected_red = (1.0 - tiny_spec.mean[0]) / tiny_spec.std[0]
    assert out[0].mean().item() == pytest.approx(expected_red, rel=1e-4)
