"""A full disk (ENOSPC) during an output write: a clear one-line error, the previous output intact.

The fault is injected where the bytes are written (`Path.write_bytes` for JSON/text,
`pyarrow.parquet.write_table` for tables, `safetensors.torch.save_file` for weights): the call
writes part of its data, as a real full disk does, then raises `OSError(ENOSPC)`.
"""

from __future__ import annotations

import errno
import fnmatch
import os
from collections.abc import Callable
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import safetensors.torch
import yaml

from realign_pipeline.atomic import OutputWriteError
from tests.reliability.conftest import PARAMS, leftovers, snapshot, stage_args


def _enospc(target: str) -> OSError:
    return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), target)


@pytest.fixture
def disk_full(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], None]:
    """`disk_full("*train.parquet*")`: writes to matching file names fail half-way with ENOSPC."""

    def arm(pattern: str) -> None:
        def hit(where: object) -> bool:
            return fnmatch.fnmatch(os.path.basename(os.fspath(where)), pattern)

        write_bytes, write_table, save_file = (
            Path.write_bytes,
            pq.write_table,
            (safetensors.torch.save_file),
        )

        def fake_write_bytes(self: Path, data: bytes) -> int:
            if hit(self):
                write_bytes(self, bytes(data)[: len(data) // 2])
                raise _enospc(str(self))
            return write_bytes(self, data)

        def fake_write_table(table, where, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003
            if hit(where):
                Path(where).write_bytes(b"PAR1\x00partial")
                raise _enospc(str(where))
            return write_table(table, where, *args, **kwargs)

        def fake_save_file(tensors, filename, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003
            if hit(filename):
                Path(filename).write_bytes(b"\x08\x00partial")
                raise _enospc(str(filename))
            return save_file(tensors, filename, *args, **kwargs)

        monkeypatch.setattr(Path, "write_bytes", fake_write_bytes)
        monkeypatch.setattr(pq, "write_table", fake_write_table)
        monkeypatch.setattr(safetensors.torch, "save_file", fake_save_file)

    return arm


def test_ingest_disk_full_is_one_line_and_keeps_previous_manifests(
    make_workspace, disk_full, monkeypatch, capsys, fault_log
) -> None:
    from realign_pipeline.cli import main

    workspace = make_workspace("ws")
    monkeypatch.chdir(workspace)
    args = stage_args("ingest")
    assert main(args) == 0
    before = snapshot(workspace, ["artifacts/manifests", "metrics/ingest.json"])
    capsys.readouterr()

    disk_full("*train.parquet*")
    assert main([*args, "-s", "ingest.val_fraction=0.5"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: [Errno 28] cannot write ")
    assert "train.parquet" in err[0] and "No space left on device" in err[0]
    assert snapshot(workspace, ["artifacts/manifests", "metrics/ingest.json"]) == before
    assert leftovers(workspace) == []
    fault_log("disk full writing train.parquet", "ingest", "exit 2, one line; old outputs intact")


def _sample_cfg():
    from realign_pipeline.config.sample import SampleConfig

    section = yaml.safe_load(PARAMS.read_text(encoding="utf-8"))["sample"]
    cfg = SampleConfig.model_validate(section)
    return cfg.model_copy(update={"batch_size": 4, "max_new_tokens": 8, "temperatures": [1.0]})


def test_sample_disk_full_keeps_table_and_shards_then_resumes(
    synthetic_data, tmp_path, disk_full, fault_log
) -> None:
    from realign_pipeline.sampling import run_sample
    from tests.sampling.conftest import FakeBackend

    root, manifest = synthetic_data
    out, metrics = tmp_path / "reasoning", tmp_path / "sample.json"
    cfg = _sample_cfg().model_copy(update={"seeds": [0]})

    def run(cfg, backend):  # noqa: ANN001, ANN202
        return run_sample(manifest, root, "fake", out, metrics, cfg, backend=backend)

    run(cfg, FakeBackend())
    table_before = (out / "samples.parquet").read_bytes()
    shards_before = snapshot(out, ["shards"])

    more = cfg.model_copy(update={"seeds": [0, 1]})
    disk_full("*part-000-of-001-000008.parquet*")  # the third new shard: two already landed
    with pytest.raises(OutputWriteError, match="No space left on device"):
        run(more, FakeBackend())
    assert (out / "samples.parquet").read_bytes() == table_before
    after = snapshot(out, ["shards"])
    assert {k: v for k, v in after.items() if k in shards_before} == shards_before
    assert len(after) == len(shards_before) + 2
    assert not [p for p in out.rglob(".*")]
    fault_log("disk full writing a shard", "sample", "OutputWriteError; table and shards intact")


def test_sample_resume_after_disk_full_completes(synthetic_data, tmp_path, fault_log) -> None:
    """The resume half of the previous test, without the fault: only missing keys are made."""
    from realign_pipeline.sampling import run_sample
    from tests.sampling.conftest import FakeBackend

    root, manifest = synthetic_data
    cfg = _sample_cfg()
    ref = run_sample(manifest, root, "fake", tmp_path / "a", tmp_path / "a.json", cfg,
                     backend=FakeBackend())  # fmt: skip
    half = cfg.model_copy(update={"seeds": [0]})
    run_sample(manifest, root, "fake", tmp_path / "b", tmp_path / "b.json", half,
               backend=FakeBackend())  # fmt: skip
    resumed = run_sample(manifest, root, "fake", tmp_path / "b", tmp_path / "b.json", cfg,
                         backend=FakeBackend())  # fmt: skip
    assert resumed.counts["generated_now"] == ref.counts["planned"] // 2
    a = (tmp_path / "a" / "samples.parquet").read_bytes()
    assert (tmp_path / "b" / "samples.parquet").read_bytes() == a
    fault_log("rerun after a failed write", "sample", "only missing keys generated; same table")


def test_evaluate_disk_full_keeps_previous_eval_folder(
    tmp_path, disk_full, monkeypatch, fault_log
) -> None:
    from realign_pipeline.config import load_params
    from realign_pipeline.evaluate import run_evaluate
    from tests.evaluate.conftest import make_benchmark, make_tiny_detector

    root, manifests = tmp_path / "data", tmp_path / "manifests"
    make_benchmark(root, manifests)
    detector = make_tiny_detector(tmp_path / "detector")
    cfg = load_params(PARAMS).evaluate.model_copy(update={"perturbations": []})
    out, metrics = tmp_path / "artifacts" / "eval", tmp_path / "metrics" / "eval.json"
    run_evaluate(detector, manifests, root, out, metrics, cfg)
    before = snapshot(tmp_path, ["artifacts/eval", "metrics/eval.json"])

    disk_full("*report.md*")
    with pytest.raises(OutputWriteError, match=r"report\.md.*No space left on device"):
        run_evaluate(detector, manifests, root, out, metrics, cfg.model_copy(update={
            "threshold": 0.9}))  # fmt: skip
    assert snapshot(tmp_path, ["artifacts/eval", "metrics/eval.json"]) == before
    assert leftovers(tmp_path) == []
    fault_log("disk full writing report.md", "evaluate", "OutputWriteError; old eval folder intact")


def test_detector_export_disk_full_keeps_previous_detector(tmp_path, disk_full, fault_log) -> None:
    import torch

    from realign_pipeline.detector import create_detector, load_detector, save_detector
    from tests.evaluate.conftest import make_tiny_detector

    out = make_tiny_detector(tmp_path / "artifacts" / "detector", seed=0)
    before = snapshot(tmp_path, ["artifacts/detector"])
    spec = load_detector(out).spec
    torch.manual_seed(1)
    disk_full("*detector.safetensors*")
    with pytest.raises(OutputWriteError, match="detector.safetensors"):
        save_detector(create_detector(spec), out)
    assert snapshot(tmp_path, ["artifacts/detector"]) == before
    assert leftovers(tmp_path) == []
    fault_log(
        "disk full writing detector.safetensors", "align", "OutputWriteError; old detector intact"
    )
