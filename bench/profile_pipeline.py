"""Wall time and profile of the whole tiny pipeline, one git revision against another.

For each round and each revision (alternating, so load from other processes hits all alike):
clone the revision into a scratch folder, copy in the demo data, run the `realign-pipeline` flow
(`python -m flows.pipeline`: every stage runs) and run it again (every stage is unchanged: the
no-op run), timing both. Every revision's code runs from its own clone: `PYTHONPATH` puts its
`src/` first and a `realign` shim runs its `python -m realign_pipeline.cli`, so two revisions
share the environment but nothing else.

With `--py-spy`, the full run of each revision is also sampled with py-spy (every process, idle
included, 40 Hz) and the main thread of each stage process is split into: imports, MLflow client
(import and store set-up), stage work, and start-up/teardown outside Python code. The
profile runs apart from the timed rounds (the sampler slows what it samples).

    python bench/profile_pipeline.py                         # HEAD, 1 round
    python bench/profile_pipeline.py --rev dbeb189 --rev HEAD --rounds 2 --py-spy

Not part of bench/run.py (a round is several minutes per revision). Results: stdout, and
`--json PATH`.
"""

from __future__ import annotations

import collections
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
from _harness import REPO, parser

_SUMMARY = re.compile(r"^(\w+)\s+(ran|skipped)\s+([\d.]+)", re.M)
_CATEGORIES = ("imports", "mlflow client", "stage work", "start/teardown")
_SHIM = """#!/bin/sh
exec "{python}" -m realign_pipeline.cli "$@"
"""


def _workspace(rev: str, scratch: Path, data: Path) -> tuple[Path, dict[str, str]]:
    """A fresh clone of `rev` with the demo data, and the environment that runs its code."""
    ws = Path(tempfile.mkdtemp(prefix="ws-", dir=scratch))
    subprocess.run(["git", "clone", "-q", str(REPO), str(ws)], check=True)
    subprocess.run(["git", "checkout", "-q", rev], cwd=ws, check=True)
    shutil.copytree(data, ws / "data")
    shim = ws / ".bench-bin"
    shim.mkdir()
    (shim / "realign").write_text(_SHIM.format(python=sys.executable))
    (shim / "realign").chmod(0o755)
    env = {
        **os.environ,
        "PATH": f"{shim}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": f"{ws / 'src'}{os.pathsep}{ws}",
    }
    env.pop("MLFLOW_TRACKING_URI", None)
    return ws, env


def _flow(ws: Path, env: dict[str, str], prefix: list[str] | None = None) -> tuple[float, dict]:
    """Run the flow once; wall seconds and {stage: (status, seconds)} from its summary."""
    start = time.perf_counter()
    cmd = [*(prefix or []), sys.executable, "-m", "flows.pipeline"]
    proc = subprocess.run(cmd, cwd=ws, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"flow failed in {ws}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    stages = {m[1]: (m[2], float(m[3])) for m in _SUMMARY.finditer(proc.stdout)}
    return wall, stages


def _categorise(raw: Path, rate: float) -> dict[str, dict[str, float]]:
    """py-spy raw stacks -> {stage command: {category: seconds}} for each `realign` process."""
    out: dict[str, dict[str, float]] = collections.defaultdict(
        lambda: dict.fromkeys(_CATEGORIES, 0.0)
    )
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        procs = [f for f in frames if f.startswith("process ")]
        if not procs or "realign_pipeline.cli" not in procs[-1]:
            continue
        match = re.search(r"realign_pipeline\.cli ([\w-]+(?: (?:export|import))?)", procs[-1])
        task = re.search(r"--task (\w+)", procs[-1])
        name = match[1] if match else "?"
        if task and task[1] == "caption":
            name = "sample caption"
        rest = [f for f in frames if not f.startswith("process ")]
        if rest and rest[0].startswith("Thread._bootstrap"):
            continue  # worker threads: not the stage's critical path
        text = ";".join(rest)
        if not rest:
            category = "start/teardown"
        elif re.search(r"(^|;)connect \([^;]*(server|tracker)\.py", text):  # then, now
            category = "mlflow client"
        elif "_find_and_load" in text:
            category = "imports"
        else:
            category = "stage work"
        out[name][category] += int(count) / rate
    return dict(out)


def _profile(rev: str, scratch: Path, data: Path, py_spy: str) -> dict[str, dict[str, float]]:
    ws, env = _workspace(rev, scratch, data)
    raw = scratch / f"profile-{rev}.txt"
    rate = 40
    prefix = [py_spy, "record", "--subprocesses", "--idle", "-r", str(rate), "-f", "raw"]
    _flow(ws, env, [*prefix, "-o", str(raw), "--"])
    return _categorise(raw, rate)


def _print_profile(rev: str, table: dict[str, dict[str, float]]) -> None:
    frame = pd.DataFrame(table).T.reindex(columns=list(_CATEGORIES))
    frame.loc["all stages"] = frame.sum()
    frame["total"] = frame.sum(axis=1)
    print(f"\nprofile of {rev}: main thread of each stage process, seconds")
    print(frame.round(1).to_string())


def main() -> None:
    """Time (and optionally profile) each revision and print the tables."""
    cli = parser(__doc__)
    cli.add_argument("--rev", action="append", help="git revision (repeatable; default HEAD)")
    cli.add_argument("--rounds", type=int, default=1)
    cli.add_argument("--py-spy", action="store_true", help="also profile each revision")
    cli.add_argument("--json", type=Path, help="write the results here")
    args = cli.parse_args()
    revs = args.rev or ["HEAD"]
    py_spy = shutil.which("py-spy") if args.py_spy else None
    if args.py_spy and py_spy is None:
        sys.exit("py-spy not found: it is in the test extras (pip install py-spy)")
    results: dict = {"revs": {}, "profiles": {}}
    with tempfile.TemporaryDirectory(prefix="realign-profile-") as tmp:
        scratch = Path(tmp)
        data = scratch / "demo-data"
        cmd = [sys.executable, "-m", "realign_pipeline.cli", "demo-data", "--out", str(data)]
        env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
        subprocess.run(cmd, check=True, capture_output=True, env=env)
        for round_ in range(args.rounds):
            for rev in revs:
                ws, env = _workspace(rev, scratch, data)
                full, stages = _flow(ws, env)
                noop, _ = _flow(ws, env)
                shutil.rmtree(ws, ignore_errors=True)
                row = {"full_s": full, "noop_s": noop, "stages": stages}
                results["revs"].setdefault(rev, []).append(row)
                print(f"[round {round_ + 1}] {rev}: full run {full:.1f} s, no-op run {noop:.1f} s")
        if py_spy:
            for rev in revs:
                results["profiles"][rev] = _profile(rev, scratch, data, py_spy)
    runs = pd.DataFrame(
        [{"revision": rev, "full run s": r["full_s"], "no-op run s": r["noop_s"],
          **{stage: seconds for stage, (_, seconds) in r["stages"].items()}}
         for rev, rows in results["revs"].items() for r in rows]
    )  # fmt: skip
    medians = runs.groupby("revision", sort=False).median()
    print(f"\nmedian of {args.rounds} round(s), seconds (stage columns: the full run's stages)")
    print(medians.T.round(1).to_string())
    if len(revs) > 1:
        print(f"ratio {revs[-1]}/{revs[0]}:")
        print((medians.loc[revs[-1]] / medians.loc[revs[0]]).round(2).to_string())
    for rev, table in results["profiles"].items():
        _print_profile(rev, table)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
