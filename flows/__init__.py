"""Prefect flows: `realign-pipeline` (every stage) and `realign-stage` (one stage on a pool)."""
