"""Run every benchmark in bench/ and print one table: figure, ours, baseline, ratio, target.

Each bench script measures its figure and its baseline side by side in one run and prints its
result as JSON on its last line: one object or a list of objects with keys
`figure, ours, baseline, unit, ratio, target` (target: a string such as ">= 3x", may be empty).
This runner collects them, states the machine, and writes bench/results.json.

    python bench/run.py            # everything (a few minutes on 2 CPU cores)
    python bench/run.py ingest     # only bench/ingest.py

GPU-only figures live in bench/gpu_check.py (run on a GPU machine; not part of this runner).
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
# profile_pipeline, growth, rehearse_paper: minutes each, run apart; synthetic: a helper module
SKIP = {"run.py", "profile_pipeline.py", "growth.py", "rehearse_paper.py", "synthetic.py"}


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


def main(names: list[str]) -> int:
    scripts = sorted(
        p
        for p in BENCH.glob("*.py")
        if p.name not in SKIP and not p.name.startswith("gpu_") and (not names or p.stem in names)
    )
    rows, failures = [], []
    for script in scripts:
        print(f"[bench] {script.name} ...", file=sys.stderr, flush=True)
        start = time.monotonic()
        proc = subprocess.run(
            [sys.executable, str(script)], cwd=BENCH.parent, capture_output=True, text=True
        )
        took = time.monotonic() - start
        if proc.returncode != 0:
            failures.append(script.name)
            print(proc.stdout[-2000:], proc.stderr[-4000:], file=sys.stderr)
            continue
        for fig in _figures(proc.stdout):
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
    out = {"machine": machine, "figures": rows, "failed": failures}
    (BENCH / "results.json").write_text(json.dumps(out, indent=2) + "\n")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
