"""The MLflow server a process logs to, and the `Tracker` that logs to one run of it by id.

`connect` resolves the URI in force (`MLFLOW_TRACKING_URI`, else `tracking.uri`), probes a remote
server's `/health` once with MLflow's own HTTP client and credentials (the URI's `user:password@`
or `MLFLOW_TRACKING_USERNAME`/`_PASSWORD`/`_TOKEN`), and returns one `MlflowClient` per URI and
process. A server found down falls back to the local sqlite store when
`tracking.fallback_to_local` is set, else raises `TrackingUnavailable` (not cached). Library code
receives a `Tracker` and logs unconditionally: `Tracker()` (tracking off) makes every call a no-op.
Secrets never reach what we log: secret-like params are dropped and URIs are redacted.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import re
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from realign_pipeline.config.tracking import TrackingConfig
from realign_pipeline.errors import RealignError

logger = logging.getLogger(__name__)

LOCAL_URI = "sqlite:///mlflow.db"
# a secret-looking name segment: `api_token`, `aws_secret_access_key`, `password`; not
# `max_new_tokens` or `tokenizer` (hyperparameters that must be logged)
SECRET_KEY = re.compile(
    r"(?:^|[_.-])(token|secret|password|passwd|credentials?|api[_-]?key|access[_-]?key|"
    r"private[_-]?key)(?:$|[_.-])",
    re.I,
)
MAX_PARAM_LEN = 6000  # MLflow's limit on a param value


class TrackingUnavailable(RealignError):
    """The configured MLflow server cannot be reached."""


def is_remote(uri: str) -> bool:
    """True for an MLflow server (`http(s)://`), False for a local store."""
    return uri.startswith(("http://", "https://"))


def redact_uri(text: str) -> str:
    """Hide user:password in a URI, also inside a message (`https://u:pw@h` -> `https://***@h`)."""
    return re.sub(r"//[^/@\s]+@", "//***@", text)


def flatten_params(params: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Flatten nested params to `a.b.c` -> string, dropping keys that look like secrets."""
    flat: dict[str, str] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if SECRET_KEY.search(str(key)):
            continue
        if isinstance(value, Mapping):
            flat.update(flatten_params(value, f"{name}."))
        else:
            flat[name] = str(value)[:MAX_PARAM_LEN]
    return flat


def resolve_uri(cfg: TrackingConfig) -> str:
    """The tracking URI in force: `MLFLOW_TRACKING_URI` from the environment, else `cfg.uri`.

    A relative sqlite path is taken from the workspace DVC runs for (`$DVC_ROOT`), so the
    stages of `dvc exp run --temp`, which run in a copy, log to the workspace's store.
    """
    uri = os.environ.get("MLFLOW_TRACKING_URI") or cfg.uri
    prefix, root = "sqlite:///", os.environ.get("DVC_ROOT")
    if root and uri.startswith(prefix) and not uri.startswith(prefix + "/"):
        return prefix + str(Path(root, uri.removeprefix(prefix)).resolve())
    return uri


def tracking_errors() -> tuple[type[BaseException], ...]:
    """What a tracking call raises when its store or server fails (MLflow wraps HTTP errors)."""
    from mlflow.exceptions import MlflowException
    from requests.exceptions import RequestException

    return (MlflowException, RequestException, OSError)


def describe_error(exc: BaseException) -> str:
    """The first line of a tracking error, credentials redacted, at most 300 characters."""
    return redact_uri(f"{type(exc).__name__}: {exc}".splitlines()[0])[:300]


def check_reachable(uri: str, timeout_s: float) -> None:
    """Raise `TrackingUnavailable` unless a remote server answers `GET /health` (no retries)."""
    if not is_remote(uri):
        return
    from mlflow.tracking._tracking_service.utils import get_default_host_creds
    from mlflow.utils.rest_utils import http_request

    try:
        http_request(
            get_default_host_creds(uri), "/health", "GET", max_retries=0, timeout=timeout_s
        )
    except tracking_errors() as exc:
        raise TrackingUnavailable(
            f"MLflow tracking server {redact_uri(uri)} is unreachable ({describe_error(exc)}); "
            "start it, set MLFLOW_TRACKING_URI, or set tracking.fallback_to_local=true"
        ) from None


def connect(cfg: TrackingConfig) -> Any:
    """This process's `MlflowClient` for the URI in force (probed and created on first use;
    `client.tracking_uri` says where it logs, after any fallback)."""
    return _connect(resolve_uri(cfg), cfg.fallback_to_local, cfg.connect_timeout_s)


@functools.cache  # one probe and one client per URI; a failure is not cached
def _connect(uri: str, fallback: bool, timeout_s: float) -> Any:
    from mlflow.tracking import MlflowClient

    try:
        check_reachable(uri, timeout_s)
    except TrackingUnavailable:
        if not fallback:
            raise
        logger.warning(
            "MLflow at %s unreachable; logging to %s instead", redact_uri(uri), LOCAL_URI
        )
        uri = LOCAL_URI
    # the registry lives in the same store: without registry_uri MLflow would take the process's
    # global default (e.g. ./mlflow.db) for model versions
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


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
