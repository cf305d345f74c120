"""What every benchmark shares: its parser, interleaved timing, child processes, the figure line.

A benchmark prints a few human lines and, last, its figures as one JSON list for bench/run.py:
`{figure, ours, baseline, unit, ratio, target}` each (`figure()` builds one, `report()` prints).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import timeit
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# children run offline and without progress bars, whatever the caller's environment
CHILD_ENV = {**os.environ, "TQDM_DISABLE": "1", "HF_HUB_OFFLINE": "1"}


def parser(doc: str) -> argparse.ArgumentParser:
    """The script's parser; `--help` shows its docstring."""
    return argparse.ArgumentParser(
        description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )


def figure(name: str, ours: float | None, baseline: float | None, unit: str, target: str = "",
           **extra: object) -> dict:  # fmt: skip
    """One figure; ratio = ours / baseline (None when either is missing or zero)."""
    ratio = ours / baseline if ours is not None and baseline else None
    return {"figure": name, "ours": ours, "baseline": baseline, "unit": unit, "ratio": ratio,
            "target": target, **extra}  # fmt: skip


def report(figures: list[dict]) -> None:
    """Print one line per figure, then the JSON figure line bench/run.py reads."""
    for fig in figures:
        ratio = "" if fig.get("ratio") is None else f"  ratio {fig['ratio']:.3g}"
        ours, baseline, unit = fig.get("ours"), fig.get("baseline"), fig.get("unit")
        print(f"{fig['figure']}: {ours} vs {baseline} {unit}{ratio}")
    print(json.dumps(figures))


def interleaved(variants: dict[str, Callable[[], object]], rounds: int,
                warmup: int = 1) -> dict[str, list[float]]:  # fmt: skip
    """Seconds of each call per variant after `warmup` calls each. Rounds run every variant in a
    rotating order, so load from other processes on a shared machine hits all of them alike."""
    for fn in variants.values():
        timeit.repeat(fn, repeat=warmup, number=1)
    names, times = list(variants), {name: [] for name in variants}
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            times[name].append(timeit.timeit(variants[name], number=1))
    return times


def child(script: str | Path, *args: object) -> list | dict:
    """Run `python <script> <args>` from the repository root; its last stdout line, as JSON."""
    cmd = [sys.executable, str(script), *map(str, args)]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env=CHILD_ENV)
    if done.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def peak_rss_mb() -> float:
    """This process's peak resident memory so far (MiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
