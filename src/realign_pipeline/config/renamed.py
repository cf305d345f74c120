"""Keys renamed so one concept has one name in every section (TRL/PEFT names).

A params file or `--set` that still uses an old key fails with a message naming the new key.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["REMOVED", "RENAMED", "renamed_keys"]

RENAMED: dict[str, str] = {
    "align.lr": "align.learning_rate",
    "align.lr_schedule": "align.lr_scheduler_type",
    "align.epochs": "align.num_train_epochs",
    "align.grad_checkpointing": "align.gradient_checkpointing",
    "align.log_every_steps": "align.logging_steps",
    "align.lora_rank": "align.lora.r",
    "align.lora_alpha": "align.lora.alpha",
    "align.lora_dropout": "align.lora.dropout",
    "align.lora_target_modules": "align.lora.target_modules",
    "grpo.cold_start.epochs": "grpo.cold_start.num_train_epochs",
    "grpo.cold_start.batch_size": "grpo.cold_start.per_device_train_batch_size",
    "ingest.workers": "ingest.num_workers",
}
REMOVED: dict[str, str] = {
    "pipeline.stages": "the flow runs dvc.yaml's stages in their order (pick a subset with the "
    "flow's `stages` parameter)",
}


def _has(data: Mapping[str, Any], dotted: str) -> bool:
    node: Any = data
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return False
        node = node[part]
    return True


def renamed_keys(data: Mapping[str, Any]) -> list[str]:
    """One line per old key present in `data`: `old: renamed to new` or `old: removed; why`."""
    return [
        f"{old}: renamed to {new} (rename the key in the params file or the --set override)"
        for old, new in RENAMED.items()
        if _has(data, old)
    ] + [f"{old}: removed; {why}" for old, why in REMOVED.items() if _has(data, old)]
