"""The learning check catches real ML bugs: each injected fault makes it fail.

The tiny preset's demo data is built and ingested once; align + evaluate (not the whole
pipeline) then run on it with the tiny preset, once as it is (the check passes) and once per
fault, injected by config, by the input data or by a PyTorch global hook registered from the test
(the library's code is never edited at run time):

- flipped labels: the pairs table says real for fake and fake for real;
- detached head: the head's output is detached, so the loss does not train it;
- zero learning rate: every optimizer step runs with lr 0;
- untrainable image tower: `align.finetune=frozen` on the random tiny tower;
- wrong evaluation transform: `evaluate.preprocessing=aigcdetect` (resize by 256/224, then crop)
  instead of the detector's own transform.

The alignment texts come from the test (label sentence + a short reasoning per image), so these
runs need no VLM. About 15 s per align run on 2 idle cores: slow.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pandas as pd
import pytest
from torch.nn.modules.module import register_module_forward_hook
from torch.optim.optimizer import register_optimizer_step_pre_hook

from realign_pipeline.align import run_align
from realign_pipeline.config import load_params
from realign_pipeline.data.demo import build_demo_data
from realign_pipeline.data.ingest import run_ingest
from realign_pipeline.detector.model import DetectorHead
from realign_pipeline.evaluate import run_evaluate
from tests.align.conftest import pairs_rows
from tests.learning import learning_failures

pytestmark = pytest.mark.slow
REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> dict:
    """The tiny preset's demo data, its manifests and a pairs table (2 texts per image)."""
    root = tmp_path_factory.mktemp("learning")
    params = load_params(REPO_ROOT / "params.yaml")
    build_demo_data(root / "data", params.demo_data, seed=params.seed)
    manifests = root / "manifests"
    run_ingest(root / "data", manifests, root / "ingest.json", params.ingest, seed=params.seed)
    pairs = root / "pairs.parquet"
    pairs_rows(pd.read_parquet(manifests / "train.parquet"), per_image=2).to_parquet(pairs)
    return {"root": root, "params": params, "manifests": manifests, "pairs": pairs}


def _flipped(pairs: Path, out: Path) -> Path:
    df = pd.read_parquet(pairs)
    df.assign(label=1 - df["label"]).to_parquet(out)
    return out


def _detach_head(module, inputs, output):  # noqa: ANN001, ANN202 - PyTorch's hook signature
    return output.detach() if isinstance(module, DetectorHead) else None


def _zero_lr(optimizer, args, kwargs):  # noqa: ANN001, ANN202 - PyTorch's hook signature
    for group in optimizer.param_groups:
        group["lr"] = 0.0


@contextlib.contextmanager
def _hooks(fault: str):
    """PyTorch's global module / optimizer hooks for the faults that need one."""
    handles = []
    if fault == "detached_head":
        handles.append(register_module_forward_hook(_detach_head))
    if fault == "zero_lr":
        handles.append(register_optimizer_step_pre_hook(_zero_lr))
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


ALIGN_OVERRIDES = {"untrainable_tower": {"finetune": "frozen"}}
EVAL_OVERRIDES = {"wrong_transform": {"preprocessing": "aigcdetect"}}


def _run(demo: dict, fault: str, tmp_path: Path) -> dict:
    """align + evaluate with `fault` injected; the learning check's inputs."""
    params = demo["params"]
    align_cfg = params.align.model_copy(update=ALIGN_OVERRIDES.get(fault, {}))
    eval_cfg = params.evaluate.model_copy(
        update={"perturbations": [], **EVAL_OVERRIDES.get(fault, {})}
    )
    pairs = demo["pairs"]
    if fault == "flipped_labels":
        pairs = _flipped(pairs, tmp_path / "flipped.parquet")
    with _hooks(fault):
        run_align(
            pairs,
            demo["root"] / "data",
            tmp_path / "detector",
            align_cfg,
            seed=params.seed,
            val_manifest=demo["manifests"] / "val.parquet",
            ckpt_dir=tmp_path / "ckpt",
            report_dir=tmp_path / "report",
            metrics_path=tmp_path / "align.json",
        )
    run_evaluate(
        tmp_path / "detector",
        demo["manifests"],
        demo["root"] / "data",
        tmp_path / "eval",
        tmp_path / "eval.json",
        eval_cfg,
    )
    return {
        "eval_doc": json.loads((tmp_path / "eval.json").read_text()),
        "align_doc": json.loads((tmp_path / "align.json").read_text()),
        "loss": pd.read_csv(tmp_path / "report" / "loss.csv"),
    }


def test_tiny_preset_learns_the_demo_data(demo, tmp_path) -> None:
    run = _run(demo, "none", tmp_path)
    assert learning_failures(**run) == []
    assert run["eval_doc"]["demo"]["macc_unseen"] is not None  # reported beside seen


@pytest.mark.parametrize(
    "fault",
    ["flipped_labels", "detached_head", "zero_lr", "untrainable_tower", "wrong_transform"],
)
def test_learning_check_fails_for_each_injected_fault(demo, tmp_path, fault) -> None:
    failures = learning_failures(**_run(demo, fault, tmp_path))
    assert failures, f"{fault}: the learning check passed"
