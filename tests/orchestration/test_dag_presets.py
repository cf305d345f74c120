"""One dvc.yaml for both presets: the whole DAG reproduces under presets/paper.yaml.

`dvc repro --dry` cannot check this (DVC 3 stops at the first stage whose upstream outputs do
not exist yet), so the test runs the real `dvc repro` on the real dvc.yaml with the paper preset
as params.yaml and a stand-in `realign` on PATH that creates the paths each command is given
(no model is downloaded, nothing is trained). The tiny_models stage runs for real. DVC itself
then checks every dep exists when its stage runs, every params key resolves, and every out is
produced; a stage depending on a path only the tiny preset builds fails here.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]

STAND_IN = """#!{python}
import json, os, subprocess, sys
from pathlib import Path

args = sys.argv[1:]
if args[0] == "tiny-models":  # the real command: cheap, and what the paper preset must build
    sys.exit(subprocess.call([{python!r}, "-m", "realign_pipeline.cli", *args]))
first = next(i for i, a in enumerate(args) if a.startswith("--"))
words = args[first:]  # after the (sub)command words
opts = dict(zip(words[::2], words[1::2]))  # every option of the stage commands takes a value
outputs = ("--out", "--plots", "--report", "--metrics", "--robustness")
outputs += ("--pairs",) if "import" in args else ()
for key in outputs:
    path = opts.get(key)
    if path is None:
        continue
    path = Path(path)
    if path.suffix:  # a file
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({{"stand_in": args[0]}}))
    else:
        path.mkdir(parents=True, exist_ok=True)
        (path / "stand_in.txt").write_text(" ".join(args))
task = opts.get("--task")
if task:  # downstream stages read these named files of the sample/caption folders
    name = "samples.parquet" if task == "reasoning" else "captions.parquet"
    (Path(opts["--out"]) / name).write_text("stand-in")
"""


def _dvc_stages() -> list[str]:
    return list(yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"])


def test_paper_preset_reproduces_the_whole_dag_without_the_tiny_model(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    shutil.copy(REPO / "dvc.yaml", ws / "dvc.yaml")
    shutil.copy(REPO / ".dvcignore", ws / ".dvcignore")
    shutil.copytree(REPO / "src", ws / "src", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO / "deploy" / "accelerate", ws / "deploy" / "accelerate")  # grpo.launcher
    shutil.copy(REPO / "presets" / "paper.yaml", ws / "params.yaml")
    (ws / "data" / "AIGCDetectBenchmark").mkdir(parents=True)  # the user's datasets
    (ws / "data" / "AIGCDetectBenchmark" / "README").write_text("stand-in")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    realign = bin_dir / "realign"
    realign.write_text(STAND_IN.format(python=sys.executable))
    realign.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    env.pop("DVC_STAGE", None)

    def run(*cmd: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(cmd, cwd=ws, env=env, capture_output=True, text=True, timeout=600)

    for cmd in (("git", "init", "-q"), ("dvc", "init", "-q")):
        assert run(*cmd).returncode == 0
    proc = run("dvc", "repro")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    lock = yaml.safe_load((ws / "dvc.lock").read_text())
    assert sorted(lock["stages"]) == sorted(_dvc_stages())
    # hub models: the tiny_models folder holds only its marker, no model
    assert [p.name for p in (ws / "artifacts" / "tiny_models").iterdir()] == ["tiny_models.json"]
    marker = json.loads((ws / "artifacts" / "tiny_models" / "tiny_models.json").read_text())
    assert marker == {"built": [], "for": []}
    status = run("dvc", "status", "--json")
    assert status.returncode == 0 and json.loads(status.stdout) == {}, status.stdout
