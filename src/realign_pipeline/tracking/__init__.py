"""MLflow tracking with explicit run ids (never MLflow's thread-local active run).

`server`: which URI, one `/health` probe and one client per process, secrets out of what we log;
`tracker`: the `Tracker` bound to one run id (`Tracker()` is the no-op used when
`tracking.enabled: false`); `lifecycle`: open, nest, tag and close runs, and the git commit they
came from; `registry`: the detector's model versions. Secrets (e.g. `MLFLOW_TRACKING_TOKEN`,
credentials inside a URI) come only from the environment and are redacted from anything we log.
"""

from realign_pipeline.tracking.lifecycle import (
    ENV_FLOW_RUN_ID,
    ENV_PARENT_RUN_ID,
    ENV_RUN_ID,
    create_run,
    end_run,
    git_commit,
    run_url,
    start_stage_run,
    tracker_for,
)
from realign_pipeline.tracking.server import (
    TrackingUnavailable,
    connect,
    flatten_params,
    redact_uri,
    resolve_uri,
)
from realign_pipeline.tracking.tracker import Tracker

__all__ = [
    "ENV_FLOW_RUN_ID",
    "ENV_PARENT_RUN_ID",
    "ENV_RUN_ID",
    "Tracker",
    "TrackingUnavailable",
    "connect",
    "create_run",
    "end_run",
    "flatten_params",
    "git_commit",
    "redact_uri",
    "resolve_uri",
    "run_url",
    "start_stage_run",
    "tracker_for",
]
