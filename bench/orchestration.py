"""Wall time of a no-op `dvc repro` and a no-op flow run, each against its own baseline.

- no-op `dvc repro` (every stage up to date) vs `dvc status` (the hashing work DVC cannot skip):
  the ratio is what repro adds on top of checking.
- no-op `realign-pipeline` flow run (ephemeral Prefect API, MLflow parent + nested runs, one
  `dvc status` for all stages) vs the no-op `dvc repro`: the ratio is the orchestration overhead
  of a run that changes nothing.

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
            "figure": "no-op flow run vs no-op dvc repro",
            "ours": noop_flow,
            "baseline": noop_repro,
            "unit": "s",
            "ratio": noop_flow / noop_repro,
            "target": "",
        },
    ]
    for fig in figures:
        print(
            f"{fig['figure']}: {fig['ours']:.2f}s vs {fig['baseline']:.2f}s (x{fig['ratio']:.2f})"
        )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
