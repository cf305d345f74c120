"""Run every benchmark in bench/ and print one table: figure, ours, baseline, ratio, target.

Each benchmark measures its figures and their baselines side by side in one run and prints them
as one JSON list on its last line (bench/_harness.py). This runner collects them, states the
machine, and writes bench/results.json (`--quick`: bench/results-quick.json, not committed); it
exits 1 when a benchmark fails or prints no figure.

    python bench/run.py                # every benchmark (about 5 minutes on 2 CPU cores)
    python bench/run.py --quick        # every benchmark at small sizes (a smoke run: CI)
    python bench/run.py ingest         # only bench/ingest.py

The benchmarks are the ones named in BENCHMARKS; helper modules start with `_`; the scripts in
RUN_APART (minutes each, or GPU only) are run on their own. orchestration measures the tiny
pipeline of this checkout, which must be up to date (scripts/bench.sh runs scripts/pipeline.sh
first when it is not); its quick run uses a one-stage copy instead.
"""

from __future__ import annotations

import functools
import json
import os
import platform
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pandas as pd
from _harness import REPO, child

BENCH = REPO / "bench"
# benchmark -> the arguments of its --quick run (small sizes, one round: the figures are noisy,
# the point is that every benchmark still runs); the longest first, so two at a time end together
BENCHMARKS = {
    "sampling": ["--images", "8", "--rounds", "1", "--repeats", "1", "--stage-images", "8"],
    "align": ["--images", "16", "--size", "128", "--epochs", "2", "--arch", "realign-tiny-vit",
              "--steps", "1", "--step-batch", "4", "--rounds", "2", "--detect-batch", "4"],
    "orchestration": ["--repeats", "1", "--scratch"],
    "grpo": ["--steps", "2", "--rounds", "1"],
    "evaluate": ["--n-images", "32", "--size", "64"],
    "text_cache": ["--sizes", "1000", "10000", "--repeats", "1"],
    "ingest": ["--repeats", "1"],
}  # fmt: skip
RUN_APART = {"growth", "profile_pipeline", "rehearse_paper", "gpu_check", "gpu_grpo"}


def _machine() -> dict:
    import torch

    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "date": time.strftime("%Y-%m-%d"),
    }


def _run(name: str, quick: bool) -> tuple[str, float, list | Exception]:
    """(name, wall seconds, figures or the failure) of one benchmark run."""
    print(f"[bench] {name}.py ...", file=sys.stderr, flush=True)
    start = time.monotonic()
    try:
        figures = child(BENCH / f"{name}.py", *(BENCHMARKS[name] if quick else []))
    except (RuntimeError, ValueError, IndexError) as exc:
        figures = exc
    return name, round(time.monotonic() - start, 1), figures


def main(argv: list[str]) -> int:
    quick = "--quick" in argv
    names = [a for a in argv if a != "--quick"] or list(BENCHMARKS)
    unknown = sorted(set(names) - BENCHMARKS.keys())
    if unknown:
        sys.exit(f"unknown benchmark(s) {unknown}; known: {', '.join(BENCHMARKS)}")
    rows, failures = [], []
    # a quick run is a smoke test: two benchmarks at a time (its figures are noisy anyway)
    with ThreadPoolExecutor(max_workers=2 if quick else 1) as pool:
        for name, took, figures in pool.map(functools.partial(_run, quick=quick), names):
            if isinstance(figures, Exception):  # failed, or no JSON figure line
                failures.append(f"{name}.py")
                print(f"[bench] {name}.py FAILED: {figures}", file=sys.stderr)
                continue
            rows += [{"script": f"{name}.py", "wall_s": took, **fig} for fig in figures]
    columns = ["figure", "ours", "baseline", "unit", "ratio", "target"]
    if rows:
        table = pd.DataFrame(rows, columns=columns)
        print(table.to_string(index=False, float_format="{:.4g}".format))
    machine = _machine()
    print(f"\nmachine: {machine}")
    out = {"machine": machine, "quick": quick, "figures": rows, "failed": failures}
    # a quick run's figures are a smoke test's: they never replace the committed full results
    (BENCH / ("results-quick.json" if quick else "results.json")).write_text(
        json.dumps(out, indent=2) + "\n"
    )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
