"""What every generation backend shares: the request settings, the prompt text, the result.

A backend turns a list of (image, question) pairs plus one (seed, temperature) into one
completion each. `transformers_backend.py` batches them into one HF `generate` call;
`vllm_backend.py` sends one request per key with its own seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from realign_pipeline.prompts import build_messages

__all__ = [
    "Backend",
    "Generation",
    "GenerationSettings",
    "render_prompt",
]


@dataclass(frozen=True)
class GenerationSettings:
    """Everything about a generate call except the prompts, the seed and the temperature."""

    system_prompt: str | None
    top_p: float
    top_k: int
    max_new_tokens: int
    dtype: str
    device: str
    cpu_threads: int = 0
    min_pixels: int | None = None
    max_pixels: int | None = None

    def pixel_bounds(self) -> dict[str, int]:
        """The image processor's `min_pixels`/`max_pixels` overrides that are set."""
        bounds = {"min_pixels": self.min_pixels, "max_pixels": self.max_pixels}
        return {k: v for k, v in bounds.items() if v is not None}


@dataclass(frozen=True)
class Generation:
    """One completion: decoded text (special tokens removed) and its generated token count."""

    text: str
    n_tokens: int


class Backend(Protocol):
    """A loaded model that generates one completion per (image, question)."""

    model_id: str

    def generate(
        self, images: list[Any], questions: list[str], seed: int, temperature: float
    ) -> list[Generation]:
        """Generate for `images[i]` with `questions[i]`, seeded by `seed`."""
        ...


def render_prompt(processor: Any, question: str, system_prompt: str | None) -> str:
    """The chat-template text of one image question (`prompts.build_messages`, gen. prompt on)."""
    messages = build_messages(question, system_prompt, with_image=True)
    return processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
