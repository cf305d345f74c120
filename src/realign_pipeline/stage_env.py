"""How a stage process and the runner that started it talk: environment variables and exit codes.

Defined once here, read by the `realign` CLI (cli.common, tracking, sampling workers) and by the
pipeline's runner (tasks/). Importing this module imports nothing else.

- `RESULT_FILE`: the stage writes its result (StageResult JSON) to this path; when it is set,
  that file is the result's only channel (nothing is printed on stdout).
- `PROGRESS_FILE`: the stage writes `{"done": n, "total": m}` here; the runner polls it.
- `FORCE`: `1` asks the stage to discard resumable state (shards, checkpoints) and recompute.
- `RESULT_TO_STDERR`: `1` (a worker of a multi-process stage) prints the result on stderr.
- `RUN_ID`, `PARENT_RUN_ID`, `FLOW_RUN_ID`: the MLflow run to log into, the MLflow run to nest
  under, and the Prefect flow run (a tag on MLflow runs).
- `EXIT_TRANSIENT` (75, EX_TEMPFAIL): a failure that a retry may fix (a server it needs was
  unreachable, DVC's repo lock was held); the runner retries it, and nothing else.
"""

RESULT_FILE = "REALIGN_RESULT_FILE"
PROGRESS_FILE = "REALIGN_PROGRESS_FILE"
FORCE = "REALIGN_FORCE"
RESULT_TO_STDERR = "REALIGN_RESULT_TO_STDERR"
RUN_ID = "REALIGN_RUN_ID"
PARENT_RUN_ID = "REALIGN_PARENT_RUN_ID"
FLOW_RUN_ID = "REALIGN_FLOW_RUN_ID"

EXIT_TRANSIENT = 75
