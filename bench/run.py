"""Run every benchmark in bench/ and print one table: figure, ours, baseline, ratio, target.

Each bench script measures its figure and its baseline side by side in one run and prints its
result as JSON on its last line: one object or a list of objects with keys
`figure, ours, baseline, unit, ratio, target` (target: a string such as ">= 3x", may be empty).
This runner collects them, states the machine, and writes bench/results.json (`--quick`:
bench/results-quick.json, not committed); it exits 1 when a benchmark fails or prints no figure.

    python bench/run.py                # every benchmark (about 5 minutes on 2 CPU cores)
    python bench/run.py --quick        # every benchmark at small sizes (a smoke run: CI)
    python bench/run.py ingest         # only bench/ingest.py

The benchmarks are the ones named in BENCHMARKS, nothing else: helper modules start with `_`;
the long runs (profile_pipeline, growth, rehearse_paper) and the GPU-only figures (gpu_check.py,
on a GPU machine) are run on their own. orchestration needs an up-to-date tiny pipeline
(scripts/bench.sh runs scripts/pipeline.sh first when it is not).
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
# benchmark -> the arguments of its --quick run (small sizes, one round: the figures are noisy,
# the point is that every benchmark still runs).
BENCHMARKS = {
    "align_data": ["--images", "16", "--size", "128", "--epochs", "2"],
    "align_step": ["--arch", "realign-tiny-vit", "--steps", "1", "--batch-size", "4"],
    "evaluate": ["--n-images", "32", "--size", "64"],
    "grpo": ["--steps", "2", "--rounds", "1"],
    "inference": ["--arch", "realign-tiny-vit", "--rounds", "2", "--batch-size", "4"],
    "ingest": [],
    "orchestration": ["--repeats", "1"],
    "sampling": ["--images", "8", "--rounds", "1", "--repeats", "1", "--stage-images", "8"],
    "text_cache": ["--sizes", "1000", "10000", "--repeats", "1"],
}
# Scripts run on their own: minutes each, or GPU only. Anything else under bench/ is a helper (`_`).
RUN_APART = {"growth", "profile_pipeline", "rehearse_paper", "gpu_align", "gpu_check", "gpu_grpo"}


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


def _figures(stdout: str) -> list[dict]:
    for line in reversed(stdout.strip().splitlines()):
        line = line.strip()
        if line.startswith(("{", "[")):
            data = json.loads(line)
            if isinstance(data, dict) and "figures" in data:
                data = data["figures"]
            return data if isinstance(data, list) else [data]
    raise ValueError("no JSON figure line in the output")


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)


def main(argv: list[str]) -> int:
    quick = "--quick" in argv
    names = [a for a in argv if a != "--quick"] or list(BENCHMARKS)
    unknown = sorted(set(names) - BENCHMARKS.keys())
    if unknown:
        sys.exit(f"unknown benchmark(s) {unknown}; known: {', '.join(BENCHMARKS)}")
    rows, failures = [], []
    for name in names:
        script = BENCH / f"{name}.py"
        print(f"[bench] {script.name} ...", file=sys.stderr, flush=True)
        start = time.monotonic()
        proc = subprocess.run(
            [sys.executable, str(script), *(BENCHMARKS[name] if quick else [])],
            cwd=BENCH.parent, capture_output=True, text=True,
        )  # fmt: skip
        took = time.monotonic() - start
        try:
            if proc.returncode != 0:
                raise ValueError(f"exit code {proc.returncode}")
            figures = _figures(proc.stdout)
        except ValueError as exc:  # a failed run, or no (valid) JSON figure line
            failures.append(script.name)
            print(f"[bench] {script.name} FAILED: {exc}", file=sys.stderr)
            print(proc.stdout[-2000:], proc.stderr[-4000:], file=sys.stderr)
            continue
        for fig in figures:
            fig.setdefault(
                "ratio", (fig["ours"] / fig["baseline"]) if fig.get("baseline") else None
            )
            rows.append({"script": script.name, "wall_s": round(took, 1), **fig})
    header = ("figure", "ours", "baseline", "unit", "ratio", "target")
    widths = [max(len(h), *(len(_fmt(r.get(h))) for r in rows)) for h in header] if rows else []
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    for row in rows:
        print("  ".join(_fmt(row.get(h)).ljust(w) for h, w in zip(header, widths, strict=True)))
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
