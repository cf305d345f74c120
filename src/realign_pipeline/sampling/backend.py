"""What every generation backend shares: the request settings, the prompt text, the result.

A backend turns a list of (image, question) pairs plus one (seed, temperature) into one
completion each. `transformers_backend.py` batches them into one HF `generate` call;
`vllm_backend.py` sends one request per key with its own seed.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from realign_pipeline.prompts import build_messages

__all__ = [
    "Backend",
    "Generation",
    "GenerationSettings",
    "fingerprint_model",
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


def fingerprint_model(name_or_path: str) -> str:
    """A content hash of a local model folder, or the hub id itself.

    Resume keeps earlier shards only when this matches, so retraining the model (same folder,
    new weights) makes the stage start over instead of mixing texts of two models.
    """
    root = Path(name_or_path)
    if not root.is_dir():
        return f"hub:{name_or_path}"
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(path.relative_to(root).as_posix().encode("utf-8") + b"\0")
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 22), b""):
                digest.update(chunk)
    return f"sha256:{digest.hexdigest()}"
