"""The small result object every `run_<stage>` function returns."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class StageResult:
    """What a stage produced: output paths, counts (read/kept/rejected...), and metrics.

    `to_dict()` is what the CLI prints as JSON, what goes to MLflow (metrics) and what Prefect
    tasks publish as artifacts.
    """

    stage: str
    outputs: dict[str, str] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of the result."""
        return asdict(self)
