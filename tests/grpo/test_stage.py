"""Real GRPO runs on the tiny model (CPU): beta > 0, LoRA, resume, MLflow logging, reload."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from realign_pipeline.config.grpo import GRPOConfig
from realign_pipeline.config.tracking import TrackingConfig
from realign_pipeline.grpo import run_grpo
from realign_pipeline.grpo.stage import COMPLETE_FILE, prepare_run_dir
from realign_pipeline.headline import grpo_headline
from realign_pipeline.tracking import start_stage_run
from tests.conftest import local_tracking


def _with_cold_start(cfg: GRPOConfig, **update) -> GRPOConfig:
    # The tiny preset's cold start (16 examples): fewer examples overfit into one fixed answer,
    # every group then has zero reward variance and GRPO has nothing to learn from.
    cold = cfg.cold_start.model_copy(update={"enabled": True})
    return cfg.model_copy(update={"cold_start": cold, **update})


def _tracking(tmp_path: Path) -> TrackingConfig:
    return local_tracking(tmp_path, "test-grpo")


def _weights(folder: Path) -> dict[str, torch.Tensor]:
    return load_file(str(folder / "model.safetensors"))


def _changed(before: dict, after: dict, needle: str) -> list[str]:
    keys = [k for k in before if needle in k]
    assert keys, needle
    return [k for k in keys if not torch.equal(before[k], after[k])]


@pytest.fixture(scope="module")
def full_run(tmp_path_factory, tiny_vlm, grpo_data, fast_cfg):
    """Full fine-tuning with beta > 0 after the cold start, logged to a local MLflow store."""
    tmp = tmp_path_factory.mktemp("grpo-full")
    root, train, val = grpo_data
    cfg = _with_cold_start(
        fast_cfg, max_steps=4, save_steps=4, completions_table_steps=2, max_train_images=16
    )
    assert cfg.beta > 0 and not cfg.lora.enabled
    steps: list[tuple[int, int]] = []
    with start_stage_run(_tracking(tmp), "grpo", "tiny", {"grpo": cfg.model_dump()}) as tracker:
        result = run_grpo(
            train, val, root, tmp / "out", tmp / "grpo.json", tmp / "ckpt", cfg,
            seed=0, model=str(tiny_vlm), tracker=tracker,
            progress=lambda done, total: steps.append((done, total)),
        )  # fmt: skip
    assert steps == [(1, 4), (2, 4), (3, 4), (4, 4)]  # progress reported after every step
    return tmp, result, tracker


def test_full_run_writes_model_metrics_and_checkpoint(full_run) -> None:
    tmp, result, _ = full_run
    metrics = json.loads((tmp / "grpo.json").read_text())
    assert metrics == grpo_headline(result.metrics)  # the headline only, no timings
    assert {"train_reward", "eval_accuracy", "eval_format_rate"} <= set(metrics["grpo"])
    assert "train_step_time_s" not in metrics["grpo"] and "train_step_time_s" in result.metrics
    assert metrics["grpo"]["eval_format_rate"] > 0  # the cold start + GRPO model writes tags
    assert result.counts["train_images"] == 16 and result.counts["val_images"] == 4
    assert (tmp / "out" / "model.safetensors").is_file()
    assert (tmp / "out" / "tokenizer.json").is_file()
    assert not [p for p in (tmp / "out").iterdir() if p.suffix in (".bin", ".pt", ".pth")]
    assert not any(p.name.startswith(".out.") for p in tmp.iterdir())  # atomic swap cleaned up
    checkpoint = Path(result.outputs["checkpoints"]) / "grpo" / "checkpoint-4"
    assert (checkpoint / "model.safetensors").is_file()


def test_full_run_changed_the_policy(full_run) -> None:
    tmp, result, _ = full_run
    start = _weights(Path(result.extra["policy_source"]))  # the cold-start model
    assert _changed(start, _weights(tmp / "out"), "model.layers.")  # the language model


def test_full_run_logged_rewards_and_completions_to_mlflow(full_run, monkeypatch) -> None:
    from mlflow.tracking import MlflowClient

    _, _, tracker = full_run
    # MlflowClient.load_table downloads through MLflow's global tracking URI
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracker.uri)
    client = MlflowClient(tracking_uri=tracker.uri)
    history = client.get_metric_history(tracker.run_id, "rewards/format/mean")
    assert [m.step for m in history] == [1, 2, 3, 4]  # TRL's scalars, one per step
    assert client.get_metric_history(tracker.run_id, "frac_reward_zero_std")
    run = client.get_run(tracker.run_id)
    assert run.data.params["beta"] == str(0.04)  # TRL's args logged into *our* run
    tables = {a.path for a in client.list_artifacts(tracker.run_id, "completions")}
    assert tables == {"completions/step_00002.json", "completions/step_00004.json"}
    table = client.load_table(
        run.info.experiment_id, "completions/step_00004.json", run_ids=[tracker.run_id]
    )
    assert {"completion", "reward_detection", "reward_format", "label", "answer"} <= set(table)


def test_saved_model_and_checkpoint_reload_and_generate(full_run) -> None:
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from realign_pipeline.grpo.evaluate import generate_greedy
    from realign_pipeline.images import load_image

    tmp, result, _ = full_run
    image = load_image(next((tmp.parent / "grpo-data0" / "data").rglob("*.png")))
    checkpoint = Path(result.outputs["checkpoints"]) / "grpo" / "checkpoint-4"
    processor = AutoProcessor.from_pretrained(tmp / "out")
    for folder in (tmp / "out", checkpoint):
        model = AutoModelForImageTextToText.from_pretrained(folder).eval()
        texts = generate_greedy(model, processor, [image], system_prompt=None, max_new_tokens=6)
        assert len(texts) == 1 and isinstance(texts[0], str)


def test_lora_run_changes_only_adapted_modules(tmp_path, full_run, grpo_data, fast_cfg) -> None:
    # Start from the full run's cold-start model, whose rewards vary: a zero-variance group has
    # zero advantage, and LoRA's B matrices (initialised to 0) would then never move.
    root, train, val = grpo_data
    start = Path(full_run[1].extra["policy_source"])
    lora = fast_cfg.lora.model_copy(update={"enabled": True, "r": 4, "alpha": 8})
    cfg = fast_cfg.model_copy(update={"lora": lora})
    assert cfg.beta > 0  # the reference is the base model with the adapter disabled
    run_grpo(
        train, val, root, tmp_path / "out", tmp_path / "m.json", tmp_path / "ckpt", cfg,
        seed=0, model=str(start),
    )  # fmt: skip
    before, after = _weights(start), _weights(tmp_path / "out")
    assert set(after) == set(before)  # merged back into a plain model: no lora_ keys
    assert _changed(before, after, "self_attn.q_proj")  # adapted
    assert not _changed(before, after, "mlp.")  # frozen base
    assert not _changed(before, after, "visual.")  # frozen vision tower


def test_resume_from_checkpoint(tmp_path, tiny_vlm, grpo_data, fast_cfg) -> None:
    root, train, val = grpo_data
    cfg = fast_cfg.model_copy(update={"max_steps": 3, "save_steps": 2})
    kwargs = {"seed": 0, "model": str(tiny_vlm)}
    paths = (train, val, root, tmp_path / "out", tmp_path / "m.json", tmp_path / "ckpt", cfg)
    first = run_grpo(*paths, **kwargs)
    run_dir = Path(first.outputs["checkpoints"]) / "grpo"
    assert first.extra["resumed_from"] is None
    assert (run_dir.parent / "complete.json").is_file()
    shutil.rmtree(run_dir / "checkpoint-3")  # as if killed after step 2 ...
    (run_dir.parent / "complete.json").unlink()  # ... before finishing
    second = run_grpo(*paths, **kwargs)
    assert second.extra["resumed_from"] == str(run_dir / "checkpoint-2")
    assert second.metrics["train_steps"] == 3
    assert (run_dir / "checkpoint-3").is_dir()


@pytest.mark.parametrize(
    ("finished", "resume", "kept"),
    [
        (False, True, True),  # interrupted run: keep checkpoints and cold start to resume
        (True, True, False),  # finished run: a rerun retrains (code or data may have changed)
        (False, False, False),  # --no-resume: always afresh
    ],
)
def test_prepare_run_dir(tmp_path: Path, finished: bool, resume: bool, kept: bool) -> None:
    run_dir = tmp_path / "abc"
    (run_dir / "grpo" / "checkpoint-2").mkdir(parents=True)
    if finished:
        (run_dir / COMPLETE_FILE).write_text("{}")
    assert prepare_run_dir(run_dir, resume=resume) is kept
    assert run_dir.exists() is kept
