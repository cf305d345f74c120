"""Wall time of a no-op `dvc repro` and a no-op flow run, each against its own baseline.

- no-op `dvc repro` (every stage up to date) vs `dvc status` (the hashing work DVC cannot skip):
  the ratio is what repro adds on top of checking.
- no-op `python -m flows.pipeline` (the README's command: DVC's status asked in-process, and no
  flow run started when every stage is up to date) vs the no-op `dvc repro`: target at most 3x.
- flow time of a no-op `realign-pipeline` flow run (as from the run form: start to end as
  Prefect records it, ephemeral API; no process and no MLflow run per skipped stage): target at
  most 5 s, beside the no-op `dvc repro`.

Needs an up-to-date tiny pipeline in this workspace (run `bash scripts/pipeline.sh` first).
Median of `--repeats` runs. Last stdout line: the figures as JSON for bench/run.py.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _median_wall(cmd: list[str], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(cmd, cwd=REPO, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


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


def _median_flow_time(repeats: int) -> float:
    times = []
    for _ in range(repeats):
        out = subprocess.run(
            [sys.executable, "-c", _FLOW_TIME], cwd=REPO, check=True, capture_output=True, text=True
        )
        times.append(float(out.stdout.strip().splitlines()[-1]))
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    status = subprocess.run(["dvc", "status"], cwd=REPO, capture_output=True, text=True)
    if "up to date" not in status.stdout:
        sys.exit("pipeline not up to date: run `bash scripts/pipeline.sh` first\n" + status.stdout)
    dvc_status = _median_wall(["dvc", "status"], args.repeats)
    noop_repro = _median_wall(["dvc", "repro"], args.repeats)
    noop_flow = _median_wall([sys.executable, "-m", "flows.pipeline"], args.repeats)
    flow_time = _median_flow_time(args.repeats)
    figures = [
        {
            "figure": "no-op dvc repro vs dvc status",
            "ours": noop_repro,
            "baseline": dvc_status,
            "unit": "s",
            "ratio": noop_repro / dvc_status,
            "target": "",
        },
        {
            "figure": "no-op python -m flows.pipeline vs no-op dvc repro",
            "ours": noop_flow,
            "baseline": noop_repro,
            "unit": "s",
            "ratio": noop_flow / noop_repro,
            "target": "<= 3",
        },
        {
            "figure": "no-op flow run, Prefect's flow time vs no-op dvc repro",
            "ours": flow_time,
            "baseline": noop_repro,
            "unit": "s",
            "ratio": flow_time / noop_repro,
            "target": "ours <= 5 s",
        },
    ]
    for fig in figures:
        print(
            f"{fig['figure']}: {fig['ours']:.2f}s vs {fig['baseline']:.2f}s (x{fig['ratio']:.2f})"
        )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
