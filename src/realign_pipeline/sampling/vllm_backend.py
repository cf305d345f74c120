"""Generation with vLLM: one request per key, each with its own `SamplingParams(seed=...)`.

vLLM is optional (GPU clusters only) and imported when this backend is built, never at module
import. Per-request seeds make every completion independent of how requests are batched, so the
request list is plain data (`build_requests`) that is unit-tested without vLLM installed.
"""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass
from typing import Any

from realign_pipeline.config.sample import VllmConfig
from realign_pipeline.errors import ConfigError
from realign_pipeline.sampling.backend import Generation, GenerationSettings, render_prompt

logger = logging.getLogger(__name__)

__all__ = ["VllmBackend", "VllmRequest", "build_requests", "engine_kwargs", "import_vllm"]


@dataclass(frozen=True)
class VllmRequest:
    """One vLLM request: chat-template prompt, its image, and `SamplingParams` keyword args."""

    prompt: str
    image: Any
    sampling: dict[str, Any]

    def to_input(self) -> dict[str, Any]:
        """The prompt dict `LLM.generate` takes."""
        return {"prompt": self.prompt, "multi_modal_data": {"image": self.image}}


def build_requests(
    prompts: list[str],
    images: list[Any],
    seed: int,
    temperature: float,
    settings: GenerationSettings,
) -> list[VllmRequest]:
    """One request per (prompt, image), all with `seed` and `temperature`.

    vLLM's top_k uses -1 for "off" where HF uses 0; temperature 0 is greedy in both.
    """
    if len(prompts) != len(images):
        raise ValueError(f"{len(images)} images for {len(prompts)} prompts")
    sampling = {
        "seed": int(seed),
        "temperature": float(temperature),
        "top_p": float(settings.top_p) if temperature > 0 else 1.0,
        "top_k": int(settings.top_k) if settings.top_k > 0 and temperature > 0 else -1,
        "max_tokens": int(settings.max_new_tokens),
        "skip_special_tokens": True,
    }
    return [
        VllmRequest(prompt=p, image=img, sampling=dict(sampling))
        for p, img in zip(prompts, images, strict=True)
    ]


def engine_kwargs(model_name: str, settings: GenerationSettings, cfg: VllmConfig) -> dict[str, Any]:
    """Keyword arguments of `vllm.LLM`: the `vllm` section plus the stage's dtype and pixel bounds.

    The pixel bounds go to vLLM's own Qwen2.5-VL processor (`mm_processor_kwargs`), so an image
    becomes as many tokens as with the transformers backend and in GRPO.
    """
    kwargs: dict[str, Any] = {
        "model": model_name,
        "dtype": settings.dtype,
        "tensor_parallel_size": cfg.tensor_parallel_size,
        "gpu_memory_utilization": cfg.gpu_memory_utilization,
        "max_model_len": cfg.max_model_len,
        "limit_mm_per_prompt": {"image": cfg.limit_images_per_prompt},
    }
    if settings.pixel_bounds():
        kwargs["mm_processor_kwargs"] = settings.pixel_bounds()
    return kwargs


def import_vllm() -> Any:
    """Import vllm or explain how to get it.

    Raises:
        ConfigError: vllm is not installed.
    """
    try:
        return importlib.import_module("vllm")
    except ImportError as exc:
        raise ConfigError(
            f"backend 'vllm' was asked for (sample.backend / caption.backend) but the vllm "
            f"package cannot be imported ({exc}); install vllm on the GPU machine or set the "
            "backend to 'transformers'"
        ) from None


class VllmBackend:
    """A vLLM engine over a hub id or local model folder."""

    def __init__(self, model_name: str, settings: GenerationSettings, cfg: VllmConfig) -> None:
        vllm = import_vllm()
        from transformers import AutoProcessor

        self.model_id = model_name
        self.settings = settings
        self._sampling_params = vllm.SamplingParams
        self.processor = AutoProcessor.from_pretrained(model_name, **settings.pixel_bounds())
        self.llm = vllm.LLM(**engine_kwargs(model_name, settings, cfg))

    def generate(
        self, images: list[Any], questions: list[str], seed: int, temperature: float
    ) -> list[Generation]:
        """Submit one request per (image, question); vLLM schedules them together."""
        prompts = [render_prompt(self.processor, q, self.settings.system_prompt) for q in questions]
        requests = build_requests(prompts, images, seed, temperature, self.settings)
        outputs = self.llm.generate(
            [r.to_input() for r in requests],
            sampling_params=[self._sampling_params(**r.sampling) for r in requests],
            use_tqdm=False,
        )
        return [
            Generation(text=o.outputs[0].text, n_tokens=len(o.outputs[0].token_ids))
            for o in outputs
        ]
