"""The MLflow server a process logs to: which URI, is it up, and the one client per process.

`connect` resolves the URI in force (`MLFLOW_TRACKING_URI`, else `tracking.uri`), probes a remote
server's `/health` once, and returns the same `Connection` for every later call with that URI in
this process: one client, one probe. A server found down falls back to the local sqlite store
when `tracking.fallback_to_local` is set, else raises `TrackingUnavailable` (not cached, so a
later call probes again).
"""

from __future__ import annotations

import base64
import logging
import os
import threading
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

from realign_pipeline.config.tracking import TrackingConfig
from realign_pipeline.errors import RealignError
from realign_pipeline.tracking.redaction import redact_uri

logger = logging.getLogger(__name__)

LOCAL_URI = "sqlite:///mlflow.db"


class TrackingUnavailable(RealignError):
    """The configured MLflow server cannot be reached."""


@dataclass(frozen=True)
class Connection:
    """An `MlflowClient` and the URI it talks to (after any fallback)."""

    client: Any
    uri: str

    @property
    def is_remote(self) -> bool:
        return is_remote(self.uri)


def is_remote(uri: str) -> bool:
    """True for an MLflow server (`http(s)://`), False for a local store."""
    return uri.startswith(("http://", "https://"))


def resolve_uri(cfg: TrackingConfig) -> str:
    """The tracking URI in force: `MLFLOW_TRACKING_URI` from the environment, else `cfg.uri`."""
    return os.environ.get("MLFLOW_TRACKING_URI") or cfg.uri


def health_request(uri: str) -> urllib.request.Request:
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


def check_reachable(uri: str, timeout_s: float) -> None:
    """Raise `TrackingUnavailable` unless a remote server answers `/health` with 200."""
    if not is_remote(uri):
        return
    try:
        with urllib.request.urlopen(health_request(uri), timeout=timeout_s) as resp:
            if resp.status == 200:
                return
            raise TrackingUnavailable(f"MLflow server at {redact_uri(uri)} answered {resp.status}")
    except (urllib.error.URLError, OSError) as exc:
        raise TrackingUnavailable(
            f"MLflow tracking server {redact_uri(uri)} is unreachable ({exc}); start it, set "
            "MLFLOW_TRACKING_URI, or set tracking.fallback_to_local=true"
        ) from None


def tracking_errors() -> tuple[type[BaseException], ...]:
    """What a tracking call raises when its store or server fails (MLflow wraps HTTP errors)."""
    from mlflow.exceptions import MlflowException
    from requests.exceptions import RequestException

    return (MlflowException, RequestException, OSError)


_connections: dict[tuple[str, bool], Connection] = {}  # (URI asked for, fallback) -> connection
_connections_lock = threading.Lock()


def connect(cfg: TrackingConfig) -> Connection:
    """This process's connection to the URI in force (probed and created on first use)."""
    uri = resolve_uri(cfg)
    key = (uri, cfg.fallback_to_local)
    with _connections_lock:
        if key not in _connections:
            _connections[key] = _open(uri, cfg)
        return _connections[key]


def _open(uri: str, cfg: TrackingConfig) -> Connection:
    from mlflow.tracking import MlflowClient

    try:
        check_reachable(uri, cfg.connect_timeout_s)
    except TrackingUnavailable:
        if not cfg.fallback_to_local:
            raise
        logger.warning(
            "MLflow at %s unreachable; logging to %s instead", redact_uri(uri), LOCAL_URI
        )
        uri = LOCAL_URI
    # the registry lives in the same store: without registry_uri MLflow would take the process's
    # global default (e.g. ./mlflow.db) for model versions
    return Connection(MlflowClient(tracking_uri=uri, registry_uri=uri), uri)
