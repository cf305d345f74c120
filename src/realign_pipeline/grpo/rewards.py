"""AIGI-R1 rewards with TRL's reward-function signature: R_total = w_det R_det + w_fmt R_format.

Both are small classes with `__call__` rather than closures so that they pickle (TRL's
repetition-penalty reward does the same, and multi-process launchers need it). TRL calls them as
`reward(prompts=..., completions=..., completion_ids=..., **dataset_columns, log_extra=...)`,
where `completions` are strings (plain prompts) or `[{"role": "assistant", "content": ...}]`
lists (conversational prompts, which is what our dataset uses).

The rules live in `realign_pipeline.reasoning.parse_completion`, shared with sampling:
- detection: 1.0 only for exactly one `<answer>` (outside the reasoning) whose content, stripped
  and case-folded, is exactly `real` or `fake` and equals the label; else 0.0.
- format: 1.0 for `<think>reasoning</think><answer>…</answer>` and nothing else of substance.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from realign_pipeline.manifest import LABEL_NAMES
from realign_pipeline.reasoning import parse_completion

__all__ = ["DetectionReward", "FormatReward", "completion_text", "label_name"]


def completion_text(completion: Any) -> str | None:
    """The assistant text of one completion in TRL's plain or conversational form.

    Returns None when the completion is neither a string nor a list of messages with text.
    """
    if isinstance(completion, str):
        return completion
    if not isinstance(completion, Sequence) or not completion:
        return None
    message = completion[-1]
    content = message.get("content") if isinstance(message, dict) else None
    if isinstance(content, str):
        return content
    if isinstance(content, Sequence):  # structured parts: [{"type": "text", "text": ...}, ...]
        parts = [p.get("text") for p in content if isinstance(p, dict)]
        texts = [p for p in parts if isinstance(p, str)]
        return "".join(texts) if texts else None
    return None


def label_name(label: Any) -> str | None:
    """`real`/`fake` for a manifest label (0/1) or a label name; None for anything else."""
    if isinstance(label, str):
        name = label.strip().casefold()
        return name if name in LABEL_NAMES.values() else None
    try:
        return LABEL_NAMES.get(int(label))
    except (TypeError, ValueError):
        return None


class DetectionReward:
    """R_det: 1.0 when the parsed answer equals the image's label, else 0.0."""

    def __init__(self) -> None:
        self.__name__ = "detection"  # TRL names the logged metric `rewards/<__name__>/mean`

    def __call__(
        self,
        prompts: Sequence[Any] | None = None,
        completions: Sequence[Any] = (),
        label: Sequence[Any] = (),
        log_extra: Callable[[str, list[Any]], None] | None = None,
        **kwargs: Any,
    ) -> list[float]:
        if len(label) != len(completions):
            raise ValueError(f"{len(completions)} completions but {len(label)} labels")
        answers = [parse_completion(completion_text(c)).answer for c in completions]
        truths = [label_name(v) for v in label]
        if log_extra is not None:  # shown in our completion table next to the rewards
            log_extra("label", truths)
            log_extra("answer", answers)
        return [
            1.0 if a is not None and a == t else 0.0 for a, t in zip(answers, truths, strict=True)
        ]


class FormatReward:
    """R_format: 1.0 for a well-formed `<think>…</think><answer>…</answer>` completion."""

    def __init__(self) -> None:
        self.__name__ = "format"

    def __call__(
        self,
        prompts: Sequence[Any] | None = None,
        completions: Sequence[Any] = (),
        **kwargs: Any,
    ) -> list[float]:
        return [1.0 if parse_completion(completion_text(c)).format_ok else 0.0 for c in completions]
