"""The MLflow server a process logs to: which URI, is it up, the one client per process, and
keeping secrets out of what we log.

`connect` resolves the URI in force (`MLFLOW_TRACKING_URI`, else `tracking.uri`), probes a remote
server's `/health` once with MLflow's own HTTP client (its credentials: the URI's `user:password@`
or `MLFLOW_TRACKING_USERNAME`/`_PASSWORD`/`_TOKEN`), and returns the same `MlflowClient` for every
later call with that URI in this process. A server found down falls back to the local sqlite
store when `tracking.fallback_to_local` is set, else raises `TrackingUnavailable` (not cached, so
a later call probes again).
"""

from __future__ import annotations

import functools
import logging
import os
import re
from collections.abc import Mapping
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
