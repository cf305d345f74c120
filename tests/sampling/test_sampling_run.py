"""run_sample with a fake backend: the table, rejections, resume, shards and progress."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pandas as pd
import pytest

from realign_pipeline.errors import ConfigError
from realign_pipeline.sampling import SAMPLE_COLUMNS, ShardSpec, run_sample
from realign_pipeline.sampling.plan import KEY_COLUMNS

MODEL = "fake-model"


def _run(data, tmp_path: Path, cfg, backend, name: str = "out", **kwargs):  # noqa: ANN001, ANN202
    root, manifest = data
    out = tmp_path / name
    result = run_sample(
        manifest, root, MODEL, out, tmp_path / f"{name}.json", cfg, backend=backend, **kwargs
    )
    return result, out


def _table(out: Path) -> pd.DataFrame:
    return pd.read_parquet(out / "samples.parquet")


def test_run_writes_the_contract_table_sorted_by_key(
    synthetic_data, tmp_path, sample_cfg, fake_backend
) -> None:
    result, out = _run(synthetic_data, tmp_path, sample_cfg, fake_backend)
    table = _table(out)
    assert tuple(table.columns) == SAMPLE_COLUMNS
    assert len(table) == 8 * 3 * 2 == result.counts["planned"] == result.counts["generated"]
    assert table.equals(table.sort_values(list(KEY_COLUMNS)).reset_index(drop=True))
    assert not table.duplicated(list(KEY_COLUMNS)).any()
    assert table["format_ok"].all() and table["think"].notna().all()
    expected = table["answer"] == table["label"].map({0: "real", 1: "fake"})
    assert table["correct"].equals(expected)
    assert result.metrics["accuracy"] == pytest.approx(expected.mean())
    assert set(table["question_id"]) == {q.id for q in sample_cfg.questions}
    metrics = json.loads((tmp_path / "out.json").read_text())
    assert metrics["format_rate"] == 1.0 and metrics["rejected"] == 0
    assert "generations_per_s" not in metrics and result.metrics["generations_per_s"] > 0


def test_corrupt_image_is_recorded_and_counts_add_up(
    synthetic_data, tmp_path, sample_cfg, fake_backend
) -> None:
    root, manifest = synthetic_data
    victim = pd.read_parquet(manifest).iloc[2]
    (root / victim["path"]).write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    result, out = _run(synthetic_data, tmp_path, sample_cfg, fake_backend)
    rejected = pd.read_parquet(out / "rejected.parquet")
    assert len(rejected) == 3 * 2  # every key of that image
    assert set(rejected["image_id"]) == {victim["image_id"]}
    assert rejected["error"].isin(["truncated_or_corrupt", "not_an_image"]).all()
    assert victim["image_id"] not in set(_table(out)["image_id"])
    counts = result.counts
    assert counts["generated"] + counts["rejected"] == counts["planned"] == 48


def test_rerun_of_a_complete_run_generates_nothing(
    synthetic_data, tmp_path, sample_cfg, fake_backend, failing_backend
) -> None:
    _run(synthetic_data, tmp_path, sample_cfg, fake_backend)
    before = (tmp_path / "out" / "samples.parquet").read_bytes()
    result, out = _run(synthetic_data, tmp_path, sample_cfg, failing_backend)
    assert result.counts["generated_now"] == 0
    assert (out / "samples.parquet").read_bytes() == before


def test_resume_redoes_only_lost_and_truncated_shards(
    synthetic_data, tmp_path, sample_cfg, fake_backend, new_fake_backend, caplog
) -> None:
    _, out = _run(synthetic_data, tmp_path, sample_cfg, fake_backend)
    reference = _table(out)
    shards = sorted((out / "shards").glob("part-*.parquet"))
    assert len(shards) == 6  # 8 images x 3 questions / batch 4
    lost = len(pd.read_parquet(shards[1])) + len(pd.read_parquet(shards[4]))
    shards[1].unlink()  # a batch that never finished
    shards[4].write_bytes(shards[4].read_bytes()[:100])  # a file damaged after the fact
    (out / "samples.parquet").unlink()
    second = new_fake_backend()
    with caplog.at_level(logging.WARNING):
        result, _ = _run(synthetic_data, tmp_path, sample_cfg, second)
    assert "unreadable shard" in caplog.text
    assert second.n_generated == lost == result.counts["generated_now"]
    assert result.counts["shard_files_removed"] == 1
    pd.testing.assert_frame_equal(_table(out), reference)


def test_shards_merge_to_the_same_table_as_one_run(
    synthetic_data, tmp_path, sample_cfg, new_fake_backend, failing_backend
) -> None:
    cfg = sample_cfg.model_copy(update={"batch_size": 3})  # batches straddle images
    _, single = _run(synthetic_data, tmp_path, cfg, new_fake_backend(), name="single")
    first, out = _run(synthetic_data, tmp_path, cfg, new_fake_backend(), shard=ShardSpec(0, 2))
    assert not first.extra["complete"] and first.counts["pending"] > 0
    assert not (out / "samples.parquet").exists()
    second, _ = _run(synthetic_data, tmp_path, cfg, new_fake_backend(), shard=ShardSpec(1, 2))
    assert second.extra["complete"]  # the last worker to finish merges
    assert first.counts["generated_now"] + second.counts["generated_now"] == 48
    pd.testing.assert_frame_equal(_table(out), _table(single))
    final, _ = _run(synthetic_data, tmp_path, cfg, failing_backend)  # merge-only run
    assert final.extra["complete"] and final.counts["generated_now"] == 0


def test_changed_settings_discard_the_old_shards(
    synthetic_data, tmp_path, sample_cfg, fake_backend, new_fake_backend, caplog
) -> None:
    _run(synthetic_data, tmp_path, sample_cfg, fake_backend)
    changed = sample_cfg.model_copy(update={"max_new_tokens": 9})
    again = new_fake_backend()
    with caplog.at_level(logging.WARNING):
        result, _ = _run(synthetic_data, tmp_path, changed, again)
    assert result.counts["stale_shard_files_deleted"] == 6
    assert again.n_generated == 48
    assert "stale" in caplog.text


def test_adding_a_seed_generates_only_the_new_keys(
    synthetic_data, tmp_path, sample_cfg, fake_backend, new_fake_backend
) -> None:
    _, out = _run(synthetic_data, tmp_path, sample_cfg, fake_backend)
    old = _table(out)
    more = sample_cfg.model_copy(update={"seeds": [*sample_cfg.seeds, 7]})
    again = new_fake_backend()
    result, _ = _run(synthetic_data, tmp_path, more, again)
    assert again.n_generated == 24 and result.counts["generated"] == 72
    merged = _table(out)
    kept = merged[merged["seed"] != 7].reset_index(drop=True)
    pd.testing.assert_frame_equal(kept, old)


def test_fewer_images_leave_extra_rows_out(
    synthetic_data, tmp_path, sample_cfg, fake_backend, failing_backend
) -> None:
    _run(synthetic_data, tmp_path, sample_cfg, fake_backend)
    fewer = sample_cfg.model_copy(update={"max_images": 2})
    result, out = _run(synthetic_data, tmp_path, fewer, failing_backend)
    assert result.counts["generated"] == 2 * 3 * 2
    assert _table(out)["image_id"].nunique() == 2


def test_progress_hook_reaches_the_total(
    synthetic_data, tmp_path, sample_cfg, fake_backend
) -> None:
    calls: list[tuple[int, int]] = []
    hook = lambda done, total: calls.append((done, total))  # noqa: E731
    _run(synthetic_data, tmp_path, sample_cfg, fake_backend, progress=hook)
    assert calls[0] == (0, 48) and calls[-1] == (48, 48)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)


def test_caption_task_writes_captions_without_answers(
    synthetic_data, tmp_path, caption_cfg, fake_backend
) -> None:
    root, manifest = synthetic_data
    result = run_sample(
        manifest, root, MODEL, tmp_path / "captions", tmp_path / "caption.json", caption_cfg,
        task="caption", backend=fake_backend,
    )  # fmt: skip
    table = pd.read_parquet(tmp_path / "captions" / "captions.parquet")
    assert tuple(table.columns) == SAMPLE_COLUMNS and len(table) == 8
    assert table["think"].isna().all() and table["answer"].isna().all()
    assert not table["format_ok"].any() and not table["correct"].any()
    assert (table["question_id"] == caption_cfg.prompt_id).all()
    assert result.stage == "caption" and "format_rate" not in result.metrics


def test_task_and_section_must_match(synthetic_data, tmp_path, caption_cfg, fake_backend) -> None:
    with pytest.raises(ConfigError, match="task 'reasoning'"):
        _run(synthetic_data, tmp_path, caption_cfg, fake_backend)


def test_a_batch_of_only_rejected_images_calls_no_model(
    synthetic_data, tmp_path, sample_cfg, failing_backend
) -> None:
    root, manifest = synthetic_data
    first = pd.read_parquet(manifest).sort_values("image_id").iloc[0]
    (root / first["path"]).write_bytes(b"")
    cfg = sample_cfg.model_copy(update={"max_images": 1, "batch_size": 3})
    result, out = _run(synthetic_data, tmp_path, cfg, failing_backend)
    assert result.counts["rejected"] == 6 and result.counts["generated"] == 0
    assert set(pd.read_parquet(out / "rejected.parquet")["error"]) == {"empty_file"}
    assert len(_table(out)) == 0 and tuple(_table(out).columns) == SAMPLE_COLUMNS


def test_running_metrics_are_logged_after_every_batch(
    synthetic_data, tmp_path, sample_cfg, fake_backend
) -> None:
    from realign_pipeline.tracking import Tracker

    class Recorder(Tracker):
        def __init__(self) -> None:
            super().__init__()
            self.logged: list[tuple[dict, int | None]] = []

        def log_metrics(self, metrics, step=None) -> None:  # noqa: ANN001
            self.logged.append((dict(metrics), step))

    tracker = Recorder()
    _run(synthetic_data, tmp_path, sample_cfg, fake_backend, tracker=tracker)
    assert len(tracker.logged) == 6  # one per batch (shard file)
    last, step = tracker.logged[-1]
    assert step == 48 and last["progress_fraction"] == 1.0
    assert last["running_generations_per_s"] > 0 and last["batch_format_rate"] == 1.0
