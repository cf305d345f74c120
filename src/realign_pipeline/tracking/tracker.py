"""`Tracker`: logs to one MLflow run by id (never MLflow's thread-local active run).

Library code receives a `Tracker` and logs unconditionally: a `Tracker()` without a client
(tracking switched off) makes every call a no-op.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from realign_pipeline.tracking.server import (
    TrackingUnavailable,
    describe_error,
    flatten_params,
    redact_uri,
    tracking_errors,
)

logger = logging.getLogger(__name__)


class Tracker:
    """Logs to one MLflow run by id. Methods are safe to call from any thread.

    When the server fails in the middle of a run (a call raises after MLflow's own HTTP
    retries), the stage stops with `TrackingUnavailable` naming the (redacted) URI; files the
    stage already wrote are kept, so a rerun resumes. With `fallback` (`tracking.fallback_to_local`)
    it warns once instead and logs nothing more for this run, so the stage completes.
    """

    def __init__(
        self, client: Any = None, run_id: str = "", uri: str = "", *, fallback: bool = False
    ) -> None:
        self.client = client
        self.run_id = run_id
        self.uri = uri
        self.fallback = fallback
        self.lost = False  # the server failed mid-run and `fallback` is on: calls are no-ops

    @property
    def enabled(self) -> bool:
        """False for `Tracker()`: tracking is switched off."""
        return self.client is not None

    @property
    def active(self) -> bool:
        """Whether calls still reach MLflow (enabled, and the server has not failed)."""
        return self.enabled and not self.lost

    def handle_failure(self, exc: BaseException) -> None:
        """Handle a failed tracking call: warn and stop logging (fallback), else raise."""
        detail = describe_error(exc)
        self.lost = True  # no more calls: closing the run would only fail (and wait) again
        if not self.fallback:
            raise TrackingUnavailable(
                f"MLflow tracking at {redact_uri(self.uri)} failed during run {self.run_id} "
                f"({detail}); outputs written so far are kept. Restart the server and rerun the "
                "stage, or set tracking.fallback_to_local=true to finish without it"
            ) from None
        logger.warning(
            "MLflow tracking at %s failed during run %s (%s); continuing without tracking "
            "(tracking.fallback_to_local=true): the rest of this run is not logged",
            redact_uri(self.uri),
            self.run_id,
            detail,
        )

    @contextmanager
    def guarded(self) -> Iterator[None]:
        """Client calls in the block fail like any of this tracker's calls (see the class)."""
        try:
            yield
        except tracking_errors() as exc:
            self.handle_failure(exc)

    def _call(self, method: str, *args: Any, **kwargs: Any) -> None:
        if self.active:
            with self.guarded():
                getattr(self.client, method)(*args, **kwargs)

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Log nested params flattened (`align.lora.r`), secrets left out (MLflow batches them)."""
        if self.active:
            from mlflow.entities import Param

            items = [Param(k, v) for k, v in sorted(flatten_params(params).items())]
            self._call("log_batch", self.run_id, params=items)

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        """Log the finite values of `metrics` (None, NaN and inf are left out)."""
        if self.active:
            from mlflow.entities import Metric

            now = int(time.time() * 1000)
            finite = {k: float(v) for k, v in metrics.items() if v is not None}
            items = [Metric(k, v, now, step or 0) for k, v in finite.items() if math.isfinite(v)]
            self._call("log_batch", self.run_id, metrics=items)

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        if self.active:
            from mlflow.entities import RunTag

            items = [RunTag(k, str(v)) for k, v in tags.items()]
            self._call("log_batch", self.run_id, tags=items)

    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None:
        path = Path(path)
        if path.is_dir():
            self._call("log_artifacts", self.run_id, str(path), artifact_path)
        elif path.exists():
            self._call("log_artifact", self.run_id, str(path), artifact_path)

    def log_dict(self, obj: Any, artifact_file: str) -> None:
        self._call("log_dict", self.run_id, obj, artifact_file)

    def log_table(self, data: Any, artifact_file: str) -> None:
        self._call("log_table", self.run_id, data=data, artifact_file=artifact_file)

    def terminate(self, status: str, *, quiet: bool = False) -> None:
        """Close the run with `status`; `quiet` (the stage already failed) only warns on error."""
        if not quiet:
            self._call("set_terminated", self.run_id, status=status)
        elif self.active:
            try:
                self.client.set_terminated(self.run_id, status=status)
            except tracking_errors() as exc:
                logger.warning(
                    "could not mark MLflow run %s %s (%s)", self.run_id, status, describe_error(exc)
                )

    @contextmanager
    def activated(self) -> Iterator[None]:
        """Make this run MLflow's active run in this thread, for APIs that need one.

        `mlflow.pyfunc.log_model` and TRL's MLflow callback only log to the active run; this
        resumes our run by id for the duration of the block. Failing to resume the run is
        handled like any other call's failure (see the class docstring); errors raised inside
        the block are the caller's and pass through unchanged.
        """
        if not self.active:
            yield
            return
        import mlflow

        # mlflow.set_tracking_uri also writes MLFLOW_TRACKING_URI into os.environ (and only
        # unsets it for None): restoring the variable's old value restores both, so the URI of
        # this run never leaks into later runs of the same process
        saved_env = os.environ.get("MLFLOW_TRACKING_URI")
        mlflow.set_tracking_uri(self.uri)
        try:
            try:
                run = mlflow.start_run(run_id=self.run_id)
            except tracking_errors() as exc:
                self.handle_failure(exc)  # raises, or (fallback) stops tracking
                yield
                return
            with run:
                yield
            # leaving mlflow's context ends the run as FINISHED; the run belongs to whoever
            # opened it (the stage or the flow), so put it back to RUNNING for them to close
            self._call("update_run", self.run_id, status="RUNNING")
        finally:
            mlflow.set_tracking_uri(saved_env)
