"""Batched generation with Hugging Face transformers (the default backend).

All prompts of a batch go through one `generate` call per (seed, temperature), left-padded so
every completion starts at the same position. `torch.manual_seed(seed)` right before the call
makes it reproducible on CPU for the same prompts (HF generate draws from one RNG per call, so a
seed means one call).
"""

from __future__ import annotations

import logging
from typing import Any

from realign_pipeline.cpu_threads import set_cpu_threads
from realign_pipeline.sampling.backend import Generation, GenerationSettings, render_prompt

logger = logging.getLogger(__name__)

__all__ = ["TransformersBackend", "count_new_tokens", "sampling_kwargs"]


def sampling_kwargs(settings: GenerationSettings, temperature: float) -> dict[str, Any]:
    """`generate` keyword arguments for one temperature (0 = greedy).

    top_k is always passed: Qwen2.5-VL's generation config defaults to top_k=1, which would make
    every seed produce the same text.
    """
    if temperature == 0:
        return {"do_sample": False, "max_new_tokens": settings.max_new_tokens}
    return {
        "do_sample": True,
        "temperature": float(temperature),
        "top_p": float(settings.top_p),
        "top_k": int(settings.top_k),
        "max_new_tokens": settings.max_new_tokens,
    }


def count_new_tokens(row: list[int], eos_ids: set[int], pad_id: int | None) -> int:
    """Generated tokens of one row: up to and including the first end-of-sequence token.

    Anything after it is padding added by `generate` for rows that finished early.
    """
    for i, token in enumerate(row):
        if token in eos_ids:
            return i + 1
    if pad_id is not None:
        return sum(1 for token in row if token != pad_id)
    return len(row)


class TransformersBackend:
    """A VLM loaded with `models.vlm.load_vlm`, generating batches of image questions."""

    def __init__(self, model_name: str, settings: GenerationSettings) -> None:
        """Load the model; `settings.cpu_threads` fixes torch's CPU threads (`set_cpu_threads`)."""
        from realign_pipeline.models.vlm import load_vlm

        set_cpu_threads(settings.cpu_threads)
        self.model_id = model_name
        self.settings = settings
        self.model, self.processor = load_vlm(
            model_name, dtype=settings.dtype, device=settings.device, **settings.pixel_bounds()
        )
        self.model.eval()
        self.processor.tokenizer.padding_side = "left"  # completions start at one position
        eos = self.model.generation_config.eos_token_id
        eos_list = eos if isinstance(eos, list) else [eos]
        self.eos_ids = {int(t) for t in eos_list if t is not None}
        tokenizer = self.processor.tokenizer
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else None
        if self.pad_id is None and self.eos_ids:
            self.pad_id = min(self.eos_ids)

    def generate(
        self, images: list[Any], questions: list[str], seed: int, temperature: float
    ) -> list[Generation]:
        """One `generate` call over all (image, question) pairs, seeded with `seed`."""
        import torch

        if len(images) != len(questions):
            raise ValueError(f"{len(images)} images for {len(questions)} questions")
        if not images:
            return []
        texts = [render_prompt(self.processor, q, self.settings.system_prompt) for q in questions]
        inputs = self.processor(text=texts, images=images, padding=True, return_tensors="pt")
        inputs = inputs.to(self.model.device)
        torch.manual_seed(seed)
        with torch.inference_mode():
            output = self.model.generate(
                **inputs, pad_token_id=self.pad_id, **sampling_kwargs(self.settings, temperature)
            )
        new_tokens = output[:, inputs["input_ids"].shape[1] :].tolist()
        decoded = self.processor.batch_decode(new_tokens, skip_special_tokens=True)
        return [
            Generation(text=text, n_tokens=count_new_tokens(row, self.eos_ids, self.pad_id))
            for text, row in zip(decoded, new_tokens, strict=True)
        ]
