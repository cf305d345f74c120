"""`tracking` section: where MLflow runs go."""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import Field, field_validator

from realign_pipeline.config.base import Section


class TrackingConfig(Section):
    """MLflow tracking. `MLFLOW_TRACKING_URI` in the environment wins over `uri`."""

    enabled: bool = Field(description="Log runs to MLflow; false makes every call a no-op.")
    uri: str = Field(
        description="Tracking URI; the embedded default is sqlite:///mlflow.db in the repo root.",
        min_length=1,
    )
    artifact_root: str = Field(
        description="Artifact location for a new experiment (local store: ./mlartifacts).",
        min_length=1,
    )
    experiment: str = Field(min_length=1, description="Experiment name (default: realign).")
    fallback_to_local: bool = Field(
        description="If a remote server is unreachable, log to the local sqlite store instead "
        "(and say so) rather than failing the stage.",
    )
    connect_timeout_s: float = Field(gt=0, description="How long to wait for a remote server.")

    @field_validator("uri")
    @classmethod
    def _refuse_credentials(cls, value: str) -> str:
        # params.yaml is versioned (git, DVC) and logged: secrets belong in the environment
        if "@" in urlsplit(value).netloc:
            raise ValueError(
                "tracking.uri must not hold credentials (user:password@); set MLFLOW_TRACKING_URI "
                "or MLFLOW_TRACKING_USERNAME/MLFLOW_TRACKING_PASSWORD (or MLFLOW_TRACKING_TOKEN) "
                "in the environment instead"
            )
        return value
