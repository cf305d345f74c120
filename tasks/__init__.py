"""Thin Prefect tasks: each runs one DVC stage of dvc.yaml and publishes what it produced."""

from tasks.stages import STAGE_TASKS, StageOutcome, run_stage, stage_task

__all__ = ["STAGE_TASKS", "StageOutcome", "run_stage", "stage_task"]
