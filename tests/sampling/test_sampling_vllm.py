"""vLLM backend: request building (no vLLM needed) and the error when it is missing."""

from __future__ import annotations

import importlib.util

import pytest

from realign_pipeline.errors import ConfigError
from realign_pipeline.sampling.backend import GenerationSettings
from realign_pipeline.sampling.run import create_backend, task_prompts
from realign_pipeline.sampling.vllm_backend import build_requests, engine_kwargs, import_vllm

SETTINGS = GenerationSettings(
    system_prompt=None, top_p=0.9, top_k=40, max_new_tokens=64, dtype="bfloat16", device="cuda"
)
HAS_VLLM = importlib.util.find_spec("vllm") is not None


def test_requests_carry_one_seed_and_temperature_each() -> None:
    requests = build_requests(["p0", "p1"], ["img0", "img1"], 3, 0.7, SETTINGS)
    assert [r.prompt for r in requests] == ["p0", "p1"]
    assert requests[1].to_input() == {"prompt": "p1", "multi_modal_data": {"image": "img1"}}
    assert requests[0].sampling == {
        "seed": 3,
        "temperature": 0.7,
        "top_p": 0.9,
        "top_k": 40,
        "max_tokens": 64,
        "skip_special_tokens": True,
    }
    requests[0].sampling["seed"] = 99  # each request owns its params
    assert requests[1].sampling["seed"] == 3


@pytest.mark.parametrize(
    ("top_k", "temperature", "expected_top_k", "expected_top_p"),
    [
        (0, 1.0, -1, 0.9),  # HF's "off" (0) is vLLM's -1
        (40, 0.0, -1, 1.0),  # greedy: no truncation
        (5, 1.0, 5, 0.9),  # explicit top-k passes through
    ],
)
def test_request_top_k_and_top_p_follow_vllm_conventions(
    top_k: int, temperature: float, expected_top_k: int, expected_top_p: float
) -> None:
    settings = GenerationSettings(None, 0.9, top_k, 8, "float16", "cuda")
    (request,) = build_requests(["p"], ["img"], 0, temperature, settings)
    assert request.sampling["top_k"] == expected_top_k
    assert request.sampling["top_p"] == expected_top_p


def test_engine_gets_the_stage_pixel_bounds(sample_cfg) -> None:
    settings = GenerationSettings(
        None, 0.9, 40, 64, "bfloat16", "cuda", min_pixels=3136, max_pixels=401408
    )
    kwargs = engine_kwargs("m", settings, sample_cfg.vllm)
    assert kwargs["mm_processor_kwargs"] == {"min_pixels": 3136, "max_pixels": 401408}
    assert kwargs["max_model_len"] == sample_cfg.vllm.max_model_len
    assert kwargs["limit_mm_per_prompt"] == {"image": sample_cfg.vllm.limit_images_per_prompt}
    assert "mm_processor_kwargs" not in engine_kwargs("m", SETTINGS, sample_cfg.vllm)


def test_requests_need_one_image_per_prompt() -> None:
    with pytest.raises(ValueError, match="1 images for 2 prompts"):
        build_requests(["a", "b"], ["img"], 0, 1.0, SETTINGS)


@pytest.mark.skipif(HAS_VLLM, reason="vllm is installed here")
def test_missing_vllm_is_a_clear_config_error(sample_cfg) -> None:
    with pytest.raises(ConfigError, match="vllm package cannot be imported"):
        import_vllm()
    cfg = sample_cfg.model_copy(update={"backend": "vllm"})
    _, system = task_prompts(cfg, "reasoning")
    with pytest.raises(ConfigError, match="set the backend to 'transformers'"):
        create_backend("any-model", cfg, SETTINGS)
