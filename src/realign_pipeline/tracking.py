"""MLflow tracking with explicit run ids (never MLflow's thread-local active run).

Every stage logs through a `Tracker` bound to one run id. The CLI opens the stage's run with
`start_stage_run`; a Prefect task that already created the run passes its id to the stage
subprocess in `REALIGN_RUN_ID` (or a parent id in `REALIGN_PARENT_RUN_ID`, under which a nested
run is created). Without tracking (`tracking.enabled: false`) the `NullTracker` makes every call a
no-op, so library code can log unconditionally.

Secrets (e.g. `MLFLOW_TRACKING_TOKEN`, credentials inside a URI) come only from the environment and
are redacted from anything we log.
"""

from __future__ import annotations

import base64
import logging
import math
import os
import re
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from realign_pipeline.config.tracking import TrackingConfig
from realign_pipeline.errors import RealignError

logger = logging.getLogger(__name__)

ENV_RUN_ID = "REALIGN_RUN_ID"
ENV_PARENT_RUN_ID = "REALIGN_PARENT_RUN_ID"
ENV_FLOW_RUN_ID = "REALIGN_FLOW_RUN_ID"
ENV_DVC_STAGE_HASH = "REALIGN_DVC_STAGE_HASH"
LOCAL_URI = "sqlite:///mlflow.db"
# a secret-looking name segment: `api_token`, `aws_secret_access_key`, `password`; not
# `max_new_tokens` or `tokenizer` (hyperparameters that must be logged)
_SECRET_KEY = re.compile(
    r"(?:^|[_.-])(token|secret|password|passwd|credentials?|api[_-]?key|access[_-]?key|"
    r"private[_-]?key)(?:$|[_.-])",
    re.I,
)
_MAX_PARAM_LEN = 6000


class TrackingUnavailable(RealignError):
    """The configured MLflow server cannot be reached."""


def redact_uri(uri: str) -> str:
    """Hide user:password in a URI (`https://user:pw@host` -> `https://***@host`)."""
    return re.sub(r"//[^/@]+@", "//***@", uri)


def flatten_params(params: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Flatten nested params to `a.b.c` -> string, dropping keys that look like secrets."""
    flat: dict[str, str] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if _SECRET_KEY.search(str(key)):
            continue
        if isinstance(value, Mapping):
            flat.update(flatten_params(value, f"{name}."))
        else:
            flat[name] = str(value)[:_MAX_PARAM_LEN]
    return flat


def git_commit(cwd: str | Path = ".") -> str:
    """The current git commit (with `-dirty` when the tree has changes), or `unknown`."""
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{sha}-dirty" if dirty else sha


def resolve_uri(cfg: TrackingConfig) -> str:
    """The tracking URI in force: `MLFLOW_TRACKING_URI` from the environment, else `cfg.uri`."""
    return os.environ.get("MLFLOW_TRACKING_URI") or cfg.uri


def _health_request(uri: str) -> urllib.request.Request:
    """GET <uri>/health, with `user:password@` from the URI moved into a Basic auth header.

    urllib cannot open a URL with credentials in it (it takes them for part of the host name),
    while MLflow's client accepts them, so the check must strip them the same way.
    """
    parts = urllib.parse.urlsplit(uri)
    netloc = parts.netloc.rpartition("@")[2]  # host[:port] without user:password
    path = f"{parts.path.rstrip('/')}/health"
    url = urllib.parse.urlunsplit((parts.scheme, netloc, path, "", ""))
    request = urllib.request.Request(url)
    if parts.username is not None:
        user = urllib.parse.unquote(parts.username)
        password = urllib.parse.unquote(parts.password or "")
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    return request


def _check_reachable(uri: str, timeout_s: float) -> None:
    if not uri.startswith(("http://", "https://")):
        return
    try:
        with urllib.request.urlopen(_health_request(uri), timeout=timeout_s) as resp:
            if resp.status == 200:
                return
            raise TrackingUnavailable(f"MLflow server at {redact_uri(uri)} answered {resp.status}")
    except (urllib.error.URLError, OSError) as exc:
        raise TrackingUnavailable(
            f"MLflow tracking server {redact_uri(uri)} is unreachable ({exc}); start it, set "
            "MLFLOW_TRACKING_URI, or set tracking.fallback_to_local=true"
        ) from None


def _tracking_errors() -> tuple[type[BaseException], ...]:
    """What a tracking call raises when its store or server fails (MLflow wraps HTTP errors)."""
    from mlflow.exceptions import MlflowException
    from requests.exceptions import RequestException

    return (MlflowException, RequestException, OSError)


class Tracker:
    """Logs to one MLflow run by id. Methods are safe to call from any thread.

    When the server fails in the middle of a run (a call raises after MLflow's own HTTP
    retries), the stage stops with `TrackingUnavailable` naming the (redacted) URI; files the
    stage already wrote are kept, so a rerun resumes. With `fallback` (`tracking.fallback_to_local`)
    it warns once instead and logs nothing more for this run, so the stage completes.
    """

    def __init__(self, client: Any, run_id: str, uri: str, *, fallback: bool = False) -> None:
        self.client = client
        self.run_id = run_id
        self.uri = uri
        self.fallback = fallback
        self.lost = False  # the server failed mid-run and `fallback` is on: calls are no-ops

    @property
    def enabled(self) -> bool:
        return True

    def _failed(self, exc: BaseException) -> None:
        """Handle a failed tracking call: warn and stop logging (fallback), else raise."""
        detail = redact_uri(f"{type(exc).__name__}: {exc}".splitlines()[0])[:300]
        if not self.fallback:
            self.lost = True  # closing the run would only fail (and wait) again
            raise TrackingUnavailable(
                f"MLflow tracking at {redact_uri(self.uri)} failed during run {self.run_id} "
                f"({detail}); outputs written so far are kept. Restart the server and rerun the "
                "stage, or set tracking.fallback_to_local=true to finish without it"
            ) from None
        self.lost = True
        logger.warning(
            "MLflow tracking at %s failed during run %s (%s); continuing without tracking "
            "(tracking.fallback_to_local=true): the rest of this run is not logged",
            redact_uri(self.uri),
            self.run_id,
            detail,
        )

    def _call(self, method: str, *args: Any, **kwargs: Any) -> None:
        if self.lost:
            return
        try:
            getattr(self.client, method)(*args, **kwargs)
        except _tracking_errors() as exc:
            self._failed(exc)

    def log_params(self, params: Mapping[str, Any]) -> None:
        from mlflow.entities import Param

        flat = flatten_params(params)
        items = [Param(k, v) for k, v in sorted(flat.items())]
        for start in range(0, len(items), 100):
            self._call("log_batch", self.run_id, params=items[start : start + 100])

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        items = [
            Metric(k, float(v), now, step or 0)
            for k, v in metrics.items()
            if v is not None and math.isfinite(float(v))
        ]
        if items:
            self._call("log_batch", self.run_id, metrics=items)

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        for key, value in tags.items():
            self._call("set_tag", self.run_id, key, str(value))

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

    def log_text(self, text: str, artifact_file: str) -> None:
        self._call("log_text", self.run_id, text, artifact_file)

    def terminate(self, status: str, *, quiet: bool = False) -> None:
        """Close the run with `status`; `quiet` (the stage already failed) only warns on error."""
        if self.lost:
            return
        try:
            self.client.set_terminated(self.run_id, status=status)
        except _tracking_errors() as exc:
            if not quiet:
                self._failed(exc)
                return
            logger.warning(
                "could not mark MLflow run %s %s at %s (%s)",
                self.run_id,
                status,
                redact_uri(self.uri),
                redact_uri(str(exc).splitlines()[0] if str(exc) else type(exc).__name__),
            )

    @contextmanager
    def activated(self) -> Iterator[None]:
        """Make this run MLflow's active run in this thread, for APIs that need one.

        `mlflow.pyfunc.log_model` and TRL's MLflow callback only log to the active run; this
        resumes our run by id for the duration of the block. Failing to resume the run is
        handled like any other call's failure (see the class docstring); errors raised inside
        the block are the caller's and pass through unchanged.
        """
        import mlflow

        # mlflow.set_tracking_uri also writes MLFLOW_TRACKING_URI into os.environ: restore both
        # afterwards so the URI of this run never leaks into later runs of the same process
        from mlflow.tracking._tracking_service import utils as mlflow_uri_state

        saved_env = os.environ.get("MLFLOW_TRACKING_URI")
        saved_uri = mlflow_uri_state._tracking_uri  # None: resolved from the environment
        try:
            if not self.lost:
                mlflow.set_tracking_uri(self.uri)
                try:
                    run = mlflow.start_run(run_id=self.run_id)
                except _tracking_errors() as exc:
                    self._failed(exc)
            if self.lost:
                yield
                return
            with run:
                yield
            # leaving mlflow's context ends the run as FINISHED; the run belongs to whoever
            # opened it (the stage or the flow), so put it back to RUNNING for them to close
            try:
                self.client.update_run(self.run_id, status="RUNNING")
            except _tracking_errors() as exc:
                self._failed(exc)
        finally:
            mlflow_uri_state._tracking_uri = saved_uri
            if saved_env is None:
                os.environ.pop("MLFLOW_TRACKING_URI", None)
            else:
                os.environ["MLFLOW_TRACKING_URI"] = saved_env


class NullTracker(Tracker):
    """Tracking switched off: every call does nothing."""

    def __init__(self) -> None:
        super().__init__(client=None, run_id="", uri="")

    @property
    def enabled(self) -> bool:
        return False

    def log_params(self, params: Mapping[str, Any]) -> None:
        return None

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        return None

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        return None

    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None:
        return None

    def log_dict(self, obj: Any, artifact_file: str) -> None:
        return None

    def log_table(self, data: Any, artifact_file: str) -> None:
        return None

    def log_text(self, text: str, artifact_file: str) -> None:
        return None

    @contextmanager
    def activated(self) -> Iterator[None]:
        yield


def create_client(cfg: TrackingConfig) -> tuple[Any, str]:
    """An `MlflowClient` for the URI in force, after checking a remote server answers.

    Falls back to the local sqlite store when the server is down and `fallback_to_local` is set.
    """
    from mlflow.tracking import MlflowClient

    uri = resolve_uri(cfg)
    try:
        _check_reachable(uri, cfg.connect_timeout_s)
    except TrackingUnavailable:
        if not cfg.fallback_to_local:
            raise
        logger.warning(
            "MLflow at %s unreachable; logging to %s instead", redact_uri(uri), LOCAL_URI
        )
        uri = LOCAL_URI
    return MlflowClient(tracking_uri=uri), uri


def get_experiment_id(client: Any, cfg: TrackingConfig) -> str:
    """Id of `cfg.experiment`, created (with `cfg.artifact_root` for local stores) if missing."""
    experiment = client.get_experiment_by_name(cfg.experiment)
    if experiment is not None:
        return experiment.experiment_id
    location = None
    if not client.tracking_uri.startswith(("http://", "https://")):
        location = Path(cfg.artifact_root).resolve().as_uri()
    try:
        return client.create_experiment(cfg.experiment, artifact_location=location)
    except Exception:  # noqa: BLE001 - a concurrent creator won the race; read it back
        experiment = client.get_experiment_by_name(cfg.experiment)
        if experiment is None:
            raise
        return experiment.experiment_id


def base_tags(stage: str, preset: str) -> dict[str, str]:
    """Tags every run carries: stage, preset, git commit, and orchestration ids when present."""
    tags = {
        "realign.stage": stage,
        "realign.preset": preset,
        "mlflow.source.git.commit": git_commit(),
    }
    if os.environ.get(ENV_FLOW_RUN_ID):
        tags["prefect.flow_run_id"] = os.environ[ENV_FLOW_RUN_ID]
    if os.environ.get(ENV_DVC_STAGE_HASH):
        tags["dvc.stage_hash"] = os.environ[ENV_DVC_STAGE_HASH]
    return tags


@contextmanager
def start_stage_run(
    cfg: TrackingConfig,
    stage: str,
    preset: str,
    params: Mapping[str, Any] | None = None,
    *,
    run_id: str | None = None,
    parent_run_id: str | None = None,
    extra_tags: Mapping[str, str] | None = None,
) -> Iterator[Tracker]:
    """Open (or resume) the MLflow run of one stage and close it with its final status.

    `run_id` resumes an existing run (default: `$REALIGN_RUN_ID`); otherwise a new run is created,
    nested under `parent_run_id` (default: `$REALIGN_PARENT_RUN_ID`) when given.
    """
    if not cfg.enabled:
        yield NullTracker()
        return
    client, uri = create_client(cfg)
    run_id = run_id or os.environ.get(ENV_RUN_ID) or None
    parent_run_id = parent_run_id or os.environ.get(ENV_PARENT_RUN_ID) or None
    tags = {**base_tags(stage, preset), **(extra_tags or {})}
    if run_id is None:
        if parent_run_id:
            tags["mlflow.parentRunId"] = parent_run_id
        run = client.create_run(get_experiment_id(client, cfg), tags=tags, run_name=stage)
        run_id = run.info.run_id
        owns_run = True
    else:
        owns_run = False
    tracker = Tracker(client, run_id, uri, fallback=cfg.fallback_to_local)
    if not owns_run:
        tracker.set_tags(tags)
    if params:
        tracker.log_params(params)
    logger.info("MLflow run %s (%s) at %s", run_id, stage, redact_uri(uri))
    try:
        yield tracker
    except BaseException:
        if owns_run:
            tracker.terminate("FAILED", quiet=True)  # never hide the stage's own error
        raise
    if owns_run:
        tracker.terminate("FINISHED")


def create_run(
    cfg: TrackingConfig,
    name: str,
    tags: Mapping[str, str],
    *,
    parent_run_id: str | None = None,
) -> str | None:
    """Create a run that outlives this call (a flow's parent run, or a stage's nested run).

    Returns its id, or None when tracking is off. Close it with `end_run`.
    """
    if not cfg.enabled:
        return None
    client, _ = create_client(cfg)
    tags = dict(tags)
    if parent_run_id:
        tags["mlflow.parentRunId"] = parent_run_id
    run = client.create_run(get_experiment_id(client, cfg), tags=tags, run_name=name)
    return run.info.run_id


def end_run(cfg: TrackingConfig, run_id: str | None, status: str = "FINISHED") -> None:
    """Mark a run created by `create_run` as FINISHED, FAILED or KILLED."""
    if cfg.enabled and run_id:
        client, _ = create_client(cfg)
        client.set_terminated(run_id, status=status)


def tracker_for(cfg: TrackingConfig, run_id: str | None) -> Tracker:
    """A `Tracker` bound to an existing run (a `NullTracker` when tracking is off)."""
    if not cfg.enabled or not run_id:
        return NullTracker()
    client, uri = create_client(cfg)
    return Tracker(client, run_id, uri)


def run_url(cfg: TrackingConfig, run_id: str | None) -> str:
    """Link to a run in the MLflow UI for a server URI; for a local store, the `mlflow ui` hint."""
    if not run_id:
        return ""
    uri = resolve_uri(cfg)
    if uri.startswith(("http://", "https://")):
        client, _ = create_client(cfg)
        exp = client.get_run(run_id).info.experiment_id
        return f"{redact_uri(uri).rstrip('/')}/#/experiments/{exp}/runs/{run_id}"
    return f"run {run_id} (local store {uri}; view with `mlflow ui --backend-store-uri {uri}`)"
