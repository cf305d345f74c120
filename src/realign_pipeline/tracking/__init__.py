"""MLflow tracking with explicit run ids (never MLflow's thread-local active run).

One module per job: `redaction` (secrets out of logged params and URIs), `provenance` (git
commit), `server` (which URI, one `/health` probe and one client per process), `tracker` (the
`Tracker` bound to one run id, and the no-op `NullTracker` used when `tracking.enabled: false`),
`lifecycle` (open, nest, tag and close runs). Stages import what they need from here.

Secrets (e.g. `MLFLOW_TRACKING_TOKEN`, credentials inside a URI) come only from the environment and
are redacted from anything we log.
"""

from realign_pipeline.tracking.lifecycle import (
    ENV_FLOW_RUN_ID,
    ENV_PARENT_RUN_ID,
    ENV_RUN_ID,
    base_tags,
    create_run,
    end_run,
    get_experiment_id,
    run_url,
    start_stage_run,
    tracker_for,
)
from realign_pipeline.tracking.provenance import git_commit
from realign_pipeline.tracking.redaction import flatten_params, redact_uri
from realign_pipeline.tracking.server import (
    LOCAL_URI,
    Connection,
    TrackingUnavailable,
    connect,
    resolve_uri,
)
from realign_pipeline.tracking.tracker import NullTracker, Tracker

__all__ = [
    "ENV_FLOW_RUN_ID",
    "ENV_PARENT_RUN_ID",
    "ENV_RUN_ID",
    "LOCAL_URI",
    "Connection",
    "NullTracker",
    "Tracker",
    "TrackingUnavailable",
    "base_tags",
    "connect",
    "create_run",
    "end_run",
    "flatten_params",
    "get_experiment_id",
    "git_commit",
    "redact_uri",
    "resolve_uri",
    "run_url",
    "start_stage_run",
    "tracker_for",
]
