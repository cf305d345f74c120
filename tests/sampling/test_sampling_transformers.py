"""The transformers backend on the tiny Qwen2.5-VL: batching, seeding, token counts."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from realign_pipeline.sampling.backend import GenerationSettings, render_prompt
from realign_pipeline.sampling.transformers_backend import (
    TransformersBackend,
    count_new_tokens,
    sampling_kwargs,
)

SETTINGS = GenerationSettings(
    system_prompt="Answer briefly.", top_p=0.95, top_k=50, max_new_tokens=12, dtype="float32",
    device="cpu", cpu_threads=1,
)  # fmt: skip


@pytest.mark.parametrize(
    ("row", "eos", "pad", "expected"),
    [
        ([5, 6, 2, 0, 0], {2}, 0, 3),  # stops at eos, padding after it is not counted
        ([5, 6, 7], {2}, 0, 3),  # ran to max_new_tokens
        ([2, 2, 2], {2}, 2, 1),  # pad == eos: only the first one counts
        ([5, 3, 9], {2, 3}, None, 2),  # any of several eos ids
    ],
)
def test_count_new_tokens(row: list[int], eos: set[int], pad: int | None, expected: int) -> None:
    assert count_new_tokens(row, eos, pad) == expected


def test_sampling_kwargs_always_set_top_k_and_greedy_at_zero() -> None:
    sampled = sampling_kwargs(SETTINGS, 0.7)
    assert sampled["do_sample"] and sampled["top_k"] == 50 and sampled["temperature"] == 0.7
    assert sampling_kwargs(SETTINGS, 0.0) == {"do_sample": False, "max_new_tokens": 12}


@pytest.fixture(scope="module")
def backend(tiny_vlm) -> TransformersBackend:
    return TransformersBackend(str(tiny_vlm), SETTINGS)


def _images(n: int) -> list[Image.Image]:
    rng = np.random.default_rng(1)
    sizes = [32, 48, 40, 64]  # different sizes: different numbers of image tokens per prompt
    return [
        Image.fromarray(rng.integers(0, 255, (sizes[i % 4], 32, 3), dtype=np.uint8))
        for i in range(n)
    ]


def test_backend_pads_left(backend) -> None:
    assert backend.processor.tokenizer.padding_side == "left"


def test_backend_applies_the_stage_pixel_bounds(tiny_vlm) -> None:
    from dataclasses import replace

    bounded = TransformersBackend(str(tiny_vlm), replace(SETTINGS, min_pixels=784, max_pixels=784))
    size = bounded.processor.image_processor.size
    assert (size["shortest_edge"], size["longest_edge"]) == (784, 784)  # Qwen's min/max_pixels
    prompt = render_prompt(bounded.processor, "Real or fake?", None)
    inputs = bounded.processor(text=[prompt], images=_images(4)[3:], return_tensors="pt")
    assert int(inputs["image_grid_thw"].prod()) * 14 * 14 <= 784  # one 28x28 block at most


def test_generate_is_reproducible_for_the_same_seed_and_batch(backend) -> None:
    images, questions = _images(4), ["Real or fake?", "Is it a photo?", "Real?", "Describe it."]
    first = backend.generate(images, questions, seed=3, temperature=1.0)
    again = backend.generate(images, questions, seed=3, temperature=1.0)
    other = backend.generate(images, questions, seed=4, temperature=1.0)
    assert first == again
    assert [g.text for g in first] != [g.text for g in other]
    assert all(0 < g.n_tokens <= SETTINGS.max_new_tokens for g in first)


def test_greedy_ignores_the_seed(backend) -> None:
    images, questions = _images(2), ["Real or fake?", "Real or fake?"]
    greedy = backend.generate(images, questions, 0, 0.0)
    assert greedy == backend.generate(images, questions, 9, 0.0)


def test_left_padding_keeps_a_short_prompt_intact(backend) -> None:
    # greedy text of a prompt is the same alone and beside a longer prompt in the batch
    short, long_ = _images(2)
    alone = backend.generate([short], ["Real?"], 0, 0.0)
    together = backend.generate([short, long_], ["Real?", "Is this image a photo? " * 4], 0, 0.0)
    assert together[0].text == alone[0].text
