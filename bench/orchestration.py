"""Wall time of a no-op `dvc repro` and a no-op flow run, each against its own baseline.

- no-op `dvc repro` (every stage up to date) vs `dvc status` (the hashing work DVC cannot skip):
  the ratio is what repro adds on top of checking.
- no-op `python -m flows.pipeline` (the README's command: DVC's status asked in-process, and no
  flow run started when every stage is up to date) vs the no-op `dvc repro`: target at most 3x.
- flow time of a no-op `realign-pipeline` flow run (as from the run form: start to end as
  Prefect records it, ephemeral API; no process and no MLflow run per skipped stage): target at
  most 5 s, beside the no-op `dvc repro`.

Needs an up-to-date tiny pipeline in this checkout (`bash scripts/pipeline.sh` first), or
`--scratch`: a copy of this checkout whose dvc.yaml keeps only its first stage (ingest), brought
up to date in seconds (what `--quick` runs: no full pipeline run). Median of `--repeats` runs.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import timeit
from pathlib import Path

import yaml
from _harness import REPO, figure, parser, report

# a flow run as the run form starts it; prints Prefect's own start-to-end time of that run
_FLOW_TIME = """
from prefect import get_client
from flows.pipeline import realign_pipeline
state = realign_pipeline(return_state=True)
assert state.is_completed(), state
with get_client(sync_client=True) as client:
    run = client.read_flow_run(state.state_details.flow_run_id)
print((run.end_time - run.start_time).total_seconds())
"""


def _scratch(root: Path) -> Path:
    """This checkout's files (tracked or not ignored) in a fresh git repository under `root`,
    with the pipeline cut to its first stage, run once."""
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                           cwd=REPO, capture_output=True, text=True, check=True).stdout  # fmt: skip
    for name in filter(None, files.split("\0")):
        if (REPO / name).is_file():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_bytes((REPO / name).read_bytes())
    dvc_yaml = yaml.safe_load((root / "dvc.yaml").read_text(encoding="utf-8"))
    first = next(iter(dvc_yaml["stages"]))
    dvc_yaml["stages"] = {first: dvc_yaml["stages"][first]}
    (root / "dvc.yaml").write_text(yaml.safe_dump(dvc_yaml, sort_keys=False), encoding="utf-8")
    (root / "dvc.lock").unlink(missing_ok=True)
    git = ["git", "-c", "user.name=bench", "-c", "user.email=bench@example.invalid"]
    for cmd in ([*git, "init", "-q"], [*git, "add", "-A"], [*git, "commit", "-qm", "scratch"],
                [sys.executable, "-m", "realign_pipeline.cli", "demo-data", "--out", "data"],
                ["dvc", "repro", "-q"]):  # fmt: skip
        subprocess.run(cmd, cwd=root, check=True, capture_output=True)
    return root


def _median_s(cmd: list[str], cwd: Path, repeats: int) -> float:
    times = timeit.repeat(lambda: subprocess.run(cmd, cwd=cwd, check=True, capture_output=True),
                          repeat=repeats, number=1)  # fmt: skip
    return statistics.median(times)


def _measure(root: Path, repeats: int) -> list[dict]:
    status = subprocess.run(["dvc", "status"], cwd=root, capture_output=True, text=True)
    if "up to date" not in status.stdout:
        sys.exit("pipeline not up to date: run `bash scripts/pipeline.sh` first\n" + status.stdout)
    dvc_status = _median_s(["dvc", "status"], root, repeats)
    noop_repro = _median_s(["dvc", "repro"], root, repeats)
    noop_flow = _median_s([sys.executable, "-m", "flows.pipeline"], root, repeats)
    flow_times = [
        float(subprocess.run([sys.executable, "-c", _FLOW_TIME], cwd=root, check=True,
                             capture_output=True, text=True).stdout.split()[-1])
        for _ in range(repeats)
    ]  # fmt: skip
    return [
        figure("no-op dvc repro vs dvc status", noop_repro, dvc_status, "s"),
        figure("no-op python -m flows.pipeline vs no-op dvc repro", noop_flow, noop_repro, "s",
               "<= 3"),
        figure("no-op flow run, Prefect's flow time vs no-op dvc repro",
               statistics.median(flow_times), noop_repro, "s", "ours <= 5 s"),
    ]  # fmt: skip


def main() -> None:
    """Measure in this checkout (or a one-stage scratch copy); print the figures."""
    cli = parser(__doc__)
    cli.add_argument("--repeats", type=int, default=3)
    cli.add_argument("--scratch", action="store_true", help="a one-stage copy of this checkout")
    args = cli.parse_args()
    if not args.scratch:
        report(_measure(REPO, args.repeats))
        return
    with tempfile.TemporaryDirectory(prefix="bench-orchestration-") as tmp:
        report(_measure(_scratch(Path(tmp)), args.repeats))


if __name__ == "__main__":
    main()
