"""`pipeline` section: how the Prefect flow runs the DVC stages (orchestration only)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from realign_pipeline.config.base import Section

# The stage names dvc.yaml defines (a test checks they match), for typed params and run forms;
# the flow takes the stages and their order from dvc.yaml itself.
StageName = Literal[
    "ingest",
    "tiny_models",
    "grpo",
    "sample",
    "caption",
    "review_export",
    "review_import",
    "align",
    "evaluate",
]
STAGES: tuple[str, ...] = StageName.__args__  # type: ignore[attr-defined]


class PipelineConfig(Section):
    """Orchestration knobs. Stage hyperparameters live in their own sections."""

    dvc_remote: str = Field(
        description="URL of the DVC remote that stages on other machines exchange data through "
        "(s3://, gs://, ssh://; empty: the default remote of .dvc/config, which must then be "
        "reachable from those machines too). Credentials come from the environment.",
    )
    stage_deployments: dict[StageName, str] = Field(
        description="Stage -> Prefect deployment ('realign-stage/<name>') that runs it on its own "
        "work pool via run_deployment; stages not listed run in the flow's process.",
    )
    retries: int = Field(ge=0, le=10, description="Retries of a stage after a transient failure.")
    retry_delay_s: list[float] = Field(
        min_length=1, description="Backoff delays between retries, in seconds."
    )
    review_timeout_s: int = Field(
        gt=0, description="How long a human-mode flow waits for the experts' export."
    )
    image: str = Field(
        description="Image repository (no tag) of deploy/Dockerfile's builds, e.g. "
        "registry.internal:5000/ml/realign-pipeline: a stage sent to a Kubernetes pool runs "
        "<image>:<parent's commit> (`realign image push` builds and pushes it). Empty: stages "
        "go to process pools only."
    )
    stage_start_timeout_s: int = Field(
        gt=0,
        description="How long a dispatched stage may take to start (scheduled, pod pending, "
        "image pull) before the run fails with the cluster's reason.",
    )
    stage_timeout_s: int = Field(
        gt=0,
        description="How long the parent waits for a started dispatched stage to finish "
        "(longer than the job template's active_deadline_s).",
    )

    @field_validator("image")
    @classmethod
    def _image_repository(cls, value: str) -> str:
        from realign_pipeline.image import check_repository

        return check_repository(value) if value else value
