"""The fixed question and system prompt of AIGI-R1, and the chat messages built from them.

Shared by GRPO training (the prompt column of TRL's dataset) and sampling (reasoning data), so
both stages ask the model exactly the same thing.
"""

from __future__ import annotations

from typing import Any

__all__ = ["COLD_START_REASONING", "DEFAULT_SYSTEM_PROMPT", "PAPER_QUESTION", "build_messages"]

PAPER_QUESTION = (
    "Is this image AI-generated or camera-captured? Please analyze and provide a judgment."
)
"""The one question AIGI-R1 is trained on (docs/paper.md, step 1)."""

DEFAULT_SYSTEM_PROMPT = (
    "You are an expert in image forensics. Observe the image carefully: lighting, shadows, "
    "textures, edges, text, hands, faces and other fine details. First reason about what you "
    "see inside <think> </think> tags, then give your judgment inside <answer> </answer> tags "
    "as exactly one word, real or fake. Reply in the form "
    "<think>your reasoning</think><answer>real</answer> or "
    "<think>your reasoning</think><answer>fake</answer>."
)
"""System prompt asking for details and the `<think>…</think><answer>real|fake</answer>` form."""

COLD_START_REASONING = (
    "I check the lighting.",
    "I check the edges.",
    "I check the textures.",
)
"""Label-neutral reasoning of the cold-start format examples: they teach the format, not the
verdict (the answer after them is the image's label)."""


def build_messages(
    question: str = PAPER_QUESTION,
    system_prompt: str | None = DEFAULT_SYSTEM_PROMPT,
    with_image: bool = True,
) -> list[dict[str, Any]]:
    """Chat messages in Qwen's structured format: an optional system turn, then the user turn.

    The user turn holds an image placeholder (`{"type": "image"}`) before the question when
    `with_image` is true; TRL fills it from the dataset's `image` column and a processor's chat
    template turns it into `<|vision_start|><|image_pad|><|vision_end|>`.

    Args:
        question: The user's question (default: the paper's fixed question).
        system_prompt: System turn text; None or empty leaves the system turn out.
        with_image: Put an image placeholder before the question.

    Returns:
        A new list of `{"role": ..., "content": [parts]}` dicts (safe to mutate).
    """
    messages: list[dict[str, Any]] = []
    if system_prompt:
        messages.append({"role": "system", "content": [{"type": "text", "text": system_prompt}]})
    user: list[dict[str, Any]] = [{"type": "image"}] if with_image else []
    user.append({"type": "text", "text": question})
    messages.append({"role": "user", "content": user})
    return messages
