"""AIGI-R1: GRPO training of the reasoning VLM (TRL), its rewards and held-out evaluation."""

from realign_pipeline.grpo.stage import run_grpo

__all__ = ["run_grpo"]
