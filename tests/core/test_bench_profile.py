"""bench/profile_pipeline.py: py-spy raw stacks are split into the right parts per stage."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _load(monkeypatch: pytest.MonkeyPatch):  # noqa: ANN202
    monkeypatch.syspath_prepend(REPO / "bench")  # as `python bench/<script>.py` has it
    spec = importlib.util.spec_from_file_location(
        "profile_pipeline", REPO / "bench/profile_pipeline.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_categorise_splits_stage_main_threads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    flow = 'process 1:"python -m flows.pipeline"'
    dvc = 'process 2:"python3 dvc repro --single-item align"'
    align = f'{flow};{dvc};process 3:"python -m realign_pipeline.cli align --pairs p"'
    caption = f'{flow};process 4:"python -m realign_pipeline.cli sample --task caption --x y"'
    export = f'{flow};process 5:"python -m realign_pipeline.cli review export --samples s"'
    lines = [
        f"{align};<module> (a.py:1);_find_and_load (<frozen>:1);<module> (torch:1) 40",
        f"{align};run (cli.py:1);connect (tracking/server.py:3);_find_and_load (<frozen>:1) 20",
        f"{align};run (cli.py:1);fit (train.py:9) 80",
        f"{align} 10",  # no Python frame: interpreter start-up or teardown
        f"{align};Thread._bootstrap (threading.py:1);poll (x.py:2) 400",  # not the main thread
        f"{caption};run (cli.py:1);generate (s.py:1) 4",
        f"{export};run (cli.py:1);export (r.py:1) 8",
        f"{flow};<module> (pipeline.py:1) 100",  # not a stage process
    ]
    raw = tmp_path / "raw.txt"
    raw.write_text("\n".join(lines) + "\n")
    table = _load(monkeypatch)._categorise(raw, rate=40)
    assert set(table) == {"align", "sample caption", "review export"}
    assert table["align"] == {
        "imports": 1.0,
        "mlflow client": 0.5,
        "stage work": 2.0,
        "start/teardown": 0.25,
    }
    assert table["sample caption"]["stage work"] == 0.1
    assert table["review export"]["stage work"] == 0.2
