"""MLflow tracking with explicit run ids (never MLflow's thread-local active run).

`tracker`: the server (URI, one `/health` probe and one client per process, secrets kept out of
what we log) and the `Tracker` bound to one run id (`Tracker()`: tracking off, a no-op);
`lifecycle`: open, nest, tag and close runs, and the git commit they came from; `registry`: the
detector's model versions.
"""

from realign_pipeline.tracking.lifecycle import (
    create_run,
    end_run,
    git_commit,
    run_url,
    start_stage_run,
    tracker_for,
)
from realign_pipeline.tracking.tracker import (
    Tracker,
    TrackingUnavailable,
    connect,
    flatten_params,
    redact_uri,
    resolve_uri,
)

__all__ = [
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
