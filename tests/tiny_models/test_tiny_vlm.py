"""The offline tiny Qwen2.5-VL: hub-snapshot layout, reload with from_pretrained, generation."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from realign_pipeline.prompts import build_messages
from realign_pipeline.tiny_models.vlm import ANSWER_TOKENS, SPECIAL_TOKENS


def _image(seed: int = 0, size: tuple[int, int] = (40, 48)) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 255, (*size, 3), dtype=np.uint8))


def test_snapshot_has_hub_files(tiny_vlm_dir: Path) -> None:
    names = {p.name for p in tiny_vlm_dir.iterdir()}
    for required in (
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "generation_config.json",
    ):
        assert required in names
    assert not any(n.endswith((".bin", ".pt", ".pkl")) for n in names)  # safetensors only
    config = json.loads((tiny_vlm_dir / "config.json").read_text())
    assert config["model_type"] == "qwen2_5_vl"
    assert config["text_config"]["rope_parameters"]["mrope_section"] == [2, 1, 1]


def test_reload_offline_and_generate(tiny_vlm_dir: Path) -> None:
    from transformers import AutoModelForImageTextToText, AutoProcessor

    assert os.environ.get("HF_HUB_OFFLINE") == "1"
    processor = AutoProcessor.from_pretrained(tiny_vlm_dir)
    model = AutoModelForImageTextToText.from_pretrained(tiny_vlm_dir).eval()
    assert model.config._name_or_path == str(tiny_vlm_dir)  # TRL's reference-model source
    text = processor.apply_chat_template(build_messages(), add_generation_prompt=True)
    assert "<|vision_start|><|image_pad|><|vision_end|>" in text
    assert text.endswith("<|im_start|>assistant\n")
    inputs = processor(text=[text, text], images=[_image(0), _image(1)], return_tensors="pt")
    torch.manual_seed(0)
    out = model.generate(**inputs, max_new_tokens=8, do_sample=True, top_k=0)
    new = out[:, inputs["input_ids"].shape[1] :]
    assert new.shape[0] == 2 and 1 <= new.shape[1] <= 8
    assert all(isinstance(t, str) for t in processor.batch_decode(new, skip_special_tokens=True))


def test_tokenizer_has_special_tag_and_answer_tokens(tiny_vlm_dir: Path) -> None:
    from transformers import AutoProcessor

    tokenizer = AutoProcessor.from_pretrained(tiny_vlm_dir).tokenizer
    for token in (*SPECIAL_TOKENS, *ANSWER_TOKENS):
        assert tokenizer.convert_tokens_to_ids(token) != tokenizer.unk_token_id
        assert len(tokenizer.encode(token, add_special_tokens=False)) == 1, token
    # tags and answers survive decoding with special tokens skipped (what TRL's rewards see)
    ids = tokenizer.encode("<think>ok</think><answer>fake</answer>", add_special_tokens=False)
    assert (
        tokenizer.decode(ids, skip_special_tokens=True) == "<think>ok</think><answer>fake</answer>"
    )


def test_image_resolution_follows_config(tiny_vlm_dir: Path, tiny_cfg) -> None:
    from transformers import AutoProcessor

    processor = AutoProcessor.from_pretrained(tiny_vlm_dir)
    big = processor.image_processor(images=[_image(0, (256, 256))], return_tensors="pt")
    patches = int(big["image_grid_thw"].prod())
    assert patches * 14 * 14 <= tiny_cfg.max_pixels  # 14-px patches, bounded by max_pixels


@pytest.mark.parametrize(
    ("update", "key"),
    [
        ({"text_mrope_section": [2, 2, 2]}, "text_mrope_section"),  # must sum to head_dim / 2
        ({"text_heads": 3}, "text_heads"),  # 32 not divisible by 3
        ({"min_pixels": 5000}, "min_pixels"),  # above max_pixels
    ],
)
def test_config_rejects_inconsistent_shapes(tiny_cfg, update: dict, key: str) -> None:
    from pydantic import ValidationError

    from realign_pipeline.config.tiny_models import TinyModelsConfig

    with pytest.raises(ValidationError, match=key):
        TinyModelsConfig.model_validate({**tiny_cfg.model_dump(), **update})
