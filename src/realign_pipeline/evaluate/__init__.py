"""Benchmark evaluation of the exported detector, robustness grid and ablation tables.

Entry point: `run_evaluate` (the `realign evaluate` command). The ablation planning and the
comparison table live in `realign_pipeline.evaluate.ablate` (the `realign ablate` command runs
the DVC experiments).
"""

from realign_pipeline.evaluate.stage import evaluate_scorer, run_evaluate

__all__ = ["evaluate_scorer", "run_evaluate"]
