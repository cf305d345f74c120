"""Parse a model's `<think>…</think><answer>real|fake</answer>` completion.

One parser serves the GRPO rewards, the sampling stage's `think`/`answer`/`format_ok` columns and
the review queue, so "a valid answer" means the same thing everywhere. Rules (strict on purpose:
public GRPO projects saw models learn to game looser ones):

- answer: the completion holds exactly one `<answer>` and one `</answer>`, in that order and
  outside any `<think>` block, and the text between them, stripped and case-folded, is exactly
  `real` or `fake`. `<answer>real or fake</answer>`, an empty answer, two answers, an answer
  inside the think block or an unclosed tag give no answer. Tags themselves are case-sensitive.
- think: the stripped text of the one `<think>…</think>` block (None when there is not exactly
  one well-formed block, or it holds other tags).
- format_ok: the completion is `<think>non-empty</think>` followed by `<answer>non-empty</answer>`
  with only whitespace around and between them, and no other tags.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

__all__ = ["ANSWERS", "ParsedCompletion", "parse_completion"]

Answer = Literal["real", "fake"]
ANSWERS: tuple[Answer, ...] = ("real", "fake")
_TAGS = ("<think>", "</think>", "<answer>", "</answer>")
_THINK = re.compile(r"<think>(.*?)</think>", re.DOTALL)
_FORMAT = re.compile(r"\s*<think>(.*?)</think>\s*<answer>(.*?)</answer>\s*", re.DOTALL)


@dataclass(frozen=True)
class ParsedCompletion:
    """What a completion says: its reasoning, its real/fake answer, whether it is well formed."""

    think: str | None
    answer: Answer | None
    format_ok: bool


def _counts(text: str) -> dict[str, int]:
    return {tag: text.count(tag) for tag in _TAGS}


def _parse_think(text: str, counts: dict[str, int]) -> str | None:
    if counts["<think>"] != 1 or counts["</think>"] != 1:
        return None
    match = _THINK.search(text)
    if match is None or any(tag in match.group(1) for tag in _TAGS):
        return None
    return match.group(1).strip()


def _parse_answer(text: str, counts: dict[str, int]) -> Answer | None:
    if counts["<answer>"] != 1 or counts["</answer>"] != 1:
        return None
    outside = _THINK.sub(" ", text)  # an answer written inside the reasoning does not count
    start, end = outside.find("<answer>"), outside.find("</answer>")
    if start < 0 or end < start:
        return None
    content = outside[start + len("<answer>") : end].strip().casefold()
    return content if content in ANSWERS else None  # type: ignore[return-value]


def _is_format_ok(text: str, counts: dict[str, int]) -> bool:
    if any(n != 1 for n in counts.values()):
        return False
    match = _FORMAT.fullmatch(text)
    return bool(match and match.group(1).strip() and match.group(2).strip())


def parse_completion(text: object) -> ParsedCompletion:
    """Parse one completion; anything that is not a string parses as nothing.

    Args:
        text: The decoded completion (special tokens already removed).

    Returns:
        The think text, the answer (`real`/`fake`/None) and the format flag.
    """
    if not isinstance(text, str):
        return ParsedCompletion(think=None, answer=None, format_ok=False)
    counts = _counts(text)
    return ParsedCompletion(
        think=_parse_think(text, counts),
        answer=_parse_answer(text, counts),
        format_ok=_is_format_ok(text, counts),
    )
