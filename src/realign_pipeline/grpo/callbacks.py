"""Trainer callbacks: a table of sampled completions with their rewards, to MLflow every N steps,
and step progress for an orchestrator.

TRL's `report_to="mlflow"` logs scalars only; its completion tables go to wandb/trackio. This
callback reads the trainer's record of the latest generation batch (prompts, completions, per-
function rewards, advantages, plus the `label`/`answer` columns our detection reward adds) and
logs it through our `Tracker` as `completions/step_NNNNN.json`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from transformers import TrainerCallback

from realign_pipeline.grpo.rewards import completion_text
from realign_pipeline.tracking import Tracker

__all__ = ["CompletionTableCallback", "ProgressCallback", "build_completion_table"]

logger = logging.getLogger(__name__)


def build_completion_table(records: Mapping[str, Any], step: int) -> dict[str, list[Any]]:
    """Columns of the completion table from GRPOTrainer's latest-batch record.

    Args:
        records: `{"completion": [...], "rewards": {name: [...]}, "advantages": [...],
            "extra": {column: [...]}}` (the layout of TRL's `GRPOTrainer._logs`).
        step: Global step written in the `step` column.
    """
    completions = [completion_text(c) for c in records.get("completion", [])]
    n = len(completions)
    table: dict[str, list[Any]] = {"step": [step] * n, "completion": completions}
    for name, values in sorted(records.get("rewards", {}).items()):
        table[f"reward_{name}"] = list(values)[:n]
    for name, values in sorted(records.get("extra", {}).items()):
        table[name] = list(values)[:n]
    table["advantage"] = list(records.get("advantages", []))[:n]
    return {k: v for k, v in table.items() if len(v) == n}


class CompletionTableCallback(TrainerCallback):
    """Log the latest completions and rewards as an MLflow table every `every_n_steps` steps."""

    def __init__(self, tracker: Tracker | None, every_n_steps: int) -> None:
        self.tracker = tracker or Tracker()
        self.every_n_steps = every_n_steps
        self.records: Mapping[str, Any] | None = None
        self.logged_steps: list[int] = []

    def bind(self, records: Mapping[str, Any]) -> None:
        """Attach the trainer's record of the latest generation batch (updated in place)."""
        self.records = records

    def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any) -> None:
        step = int(state.global_step)
        due = step % self.every_n_steps == 0 or step == state.max_steps
        if not due or self.records is None or step in self.logged_steps:
            return
        if not state.is_world_process_zero:
            return
        table = build_completion_table(self.records, step)
        if not table.get("completion"):
            return
        self.tracker.log_table(table, artifact_file=f"completions/step_{step:05d}.json")
        self.logged_steps.append(step)
        logger.info("step %d: logged %d completions", step, len(table["completion"]))


class ProgressCallback(TrainerCallback):
    """Report `(global_step, max_steps)` after every optimiser step (e.g. to a Prefect task)."""

    def __init__(self, report: Callable[[int, int], None]) -> None:
        self.report = report

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if state.is_world_process_zero:
            self.report(int(state.global_step), int(state.max_steps))
