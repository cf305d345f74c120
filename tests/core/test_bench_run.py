"""bench/run.py runs exactly the benchmarks it names, each with --quick options it accepts."""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


def _runner(monkeypatch: pytest.MonkeyPatch):  # noqa: ANN202
    monkeypatch.syspath_prepend(BENCH)  # as `python bench/run.py` has it
    spec = importlib.util.spec_from_file_location("bench_run", BENCH / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _options(script: Path) -> set[str]:
    """The `--option` strings the script's argparse parser declares."""
    calls = [n for n in ast.walk(ast.parse(script.read_text())) if isinstance(n, ast.Call)]
    return {
        arg.value
        for call in calls
        if isinstance(call.func, ast.Attribute) and call.func.attr == "add_argument"
        for arg in call.args
        if isinstance(arg, ast.Constant) and str(arg.value).startswith("--")
    }


def test_every_script_is_a_benchmark_run_apart_or_a_private_helper(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    run = _runner(monkeypatch)
    scripts = {p.stem for p in BENCH.glob("*.py") if not p.name.startswith("_")} - {"run"}
    assert not run.BENCHMARKS.keys() & run.RUN_APART
    assert scripts == run.BENCHMARKS.keys() | run.RUN_APART, "name it in run.py or prefix `_`"


def test_quick_arguments_are_options_each_benchmark_declares(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, args in _runner(monkeypatch).BENCHMARKS.items():
        given = {a for a in args if a.startswith("--")}
        assert given <= _options(BENCH / f"{name}.py"), (
            name,
            given - _options(BENCH / f"{name}.py"),
        )
