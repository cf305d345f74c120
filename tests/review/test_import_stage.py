"""`run_review_import` as a stage: auto policy, pairs columns and variants, captions, the
min_pairs guard, and the CLI."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from realign_pipeline.cli import main
from realign_pipeline.errors import InputError
from realign_pipeline.review import check_export, run_review_export, run_review_import
from realign_pipeline.review.pairs import PAIRS_COLUMNS, TEXT_VARIANTS
from tests.conftest import argv
from tests.review.review_helpers import (
    REPO_ROOT,
    ls_full_export,
    review_config,
    sample_row,
    write_json,
    write_samples,
)

CONTRACT = (
    "sample_id",
    "image_id",
    "path",
    "label",
    "generator",
    "outcome",
    "text_full",
    "text_reasoning_only",
    "text_label_caption",
    "text_caption_only",
    "text_label_only",
)


def _run(exported, tmp_path, **kwargs):
    return exported.run_import(tmp_path, **kwargs), exported.outputs(tmp_path)


def test_auto_policy_accepts_the_whole_queue(exported, tmp_path) -> None:
    result, out = _run(exported, tmp_path)
    pairs = pd.read_parquet(out["pairs"])
    report = json.loads(out["report"].read_text())
    queue = exported.queue
    assert report["counts"] == {"accepted": len(queue), "edited": 0, "rejected": 0, "unreviewed": 0}
    assert report["reasons"]["accepted"]["auto_policy"] == len(queue)
    assert pairs["sample_id"].tolist() == queue["sample_id"].tolist()
    assert set(CONTRACT) <= set(pairs.columns) and list(pairs.columns) == list(PAIRS_COLUMNS)
    assert set(TEXT_VARIANTS.values()) <= set(pairs.columns)
    assert str(pairs["label"].dtype) == "int8"
    for row in pairs.itertuples():
        sentence = f"This is a {'fake' if row.label else 'real'} image."
        assert row.text_label_only == sentence
        assert row.text_full == f"{sentence} {row.text_reasoning_only}"
    # raw-text fallback is recorded per row
    assert set(pairs["text_source"]) == {"think", "raw_text"}
    assert pairs["text_caption_only"].isna().all() and pairs["text_label_caption"].isna().all()
    assert result.counts["pairs"] == len(queue)
    assert json.loads(out["metrics"].read_text())["accepted"] == len(queue)


def test_captions_fill_the_caption_variants(exported, tmp_path) -> None:
    queue = exported.queue
    images = sorted(queue["image_id"].unique())
    captions = pd.DataFrame(
        {
            "image_id": images[:-1] * 2,  # the last image has no caption
            "question_id": "q0",
            "seed": [1] * (len(images) - 1) + [0] * (len(images) - 1),
            "temperature": 0.7,
            "raw_text": [f"late {i}" for i in images[:-1]]
            + [f"A photo of {i[:6]}." for i in images[:-1]],
        }
    )
    path = tmp_path / "captions.parquet"
    captions.to_parquet(path, index=False)
    _, out = _run(exported, tmp_path, captions_path=path)
    pairs = pd.read_parquet(out["pairs"])
    has = pairs[pairs["image_id"] != images[-1]]
    assert (has["text_caption_only"] == has["image_id"].str[:6].map("A photo of {}.".format)).all()
    assert (
        has["text_label_caption"] == has["text_label_only"] + " " + has["text_caption_only"]
    ).all()
    assert pairs.loc[pairs["image_id"] == images[-1], "text_caption_only"].isna().all()


def test_too_few_pairs_fail_with_reasons_and_write_nothing(exported, tmp_path) -> None:
    export = ls_full_export(exported.tasks, {0: [{"decision": "reject"}], 1: [{}]})
    path = write_json(tmp_path / "export.json", export)
    cfg = exported.cfg.model_copy(update={"mode": "human", "min_pairs": 5})
    with pytest.raises(
        InputError,
        match=r"only \d item\(s\) left.*rejected/reviewer_rejected=1"
        r".*unreviewed/not_annotated=22",
    ):
        _run(exported, tmp_path, cfg=cfg, export_path=path)
    assert not any(p.exists() for p in exported.outputs(tmp_path).values())
    with pytest.raises(InputError, match="review.min_pairs=5"):
        check_export(path, exported.queue_dir, exported.data_root, cfg)


def test_failed_import_keeps_previous_outputs(exported, tmp_path) -> None:
    _, out = _run(exported, tmp_path)
    before = {k: p.read_bytes() for k, p in out.items()}
    bad = write_json(tmp_path / "bad.json", [{"id": 1, "data": {}, "annotations": []}])
    cfg = exported.cfg.model_copy(update={"mode": "human"})
    with pytest.raises(InputError, match="task 1: field 'sample_id' missing"):
        _run(exported, tmp_path, cfg=cfg, export_path=bad)
    assert {k: p.read_bytes() for k, p in out.items()} == before


def test_cli_export_and_import(exported, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    sets = ["tracking.enabled=false", "review.min_pairs=1"]
    common = {"params": REPO_ROOT / "params.yaml", "set": sets}
    queue = tmp_path / "queue"
    export = argv(
        "review",
        "export",
        samples=exported.samples,
        manifest=exported.manifest,
        data_root=exported.data_root,
        out=queue,
        **common,
    )
    assert main(export) == 0
    assert (queue / "tasks.json").is_file()
    line = argv("review", "import", queue=queue, data_root=exported.data_root, **common)
    outputs = ["--pairs", "pairs.parquet", "--report", "report.json", "--metrics", "m.json"]
    assert main([*line, *outputs]) == 0
    assert len(pd.read_parquet(tmp_path / "pairs.parquet")) == 24
    # human mode without an export: one line, exit code 2
    human = ["--set", "review.mode=human", "--export", "data/review/none.json"]
    outputs = ["--pairs", "p2.parquet", "--report", "r2.json", "--metrics", "m2.json"]
    assert main([*line, *outputs, *human]) == 2
    assert not (tmp_path / "p2.parquet").exists()
    export = write_json(
        tmp_path / "e.json",
        ls_full_export(json.loads((queue / "tasks.json").read_text()), {0: [{}]}),
    )
    # no --data-root: the queue's recorded one
    assert main(argv("review", "check", export, queue=queue, **common)) == 0


def test_tiny_preset_yields_pairs_from_untagged_tiny_model_text(synthetic_data, tmp_path) -> None:
    # a random tiny VLM: no <think>/<answer> tags, no parsed answer, garbled bytes
    data_root, manifest = synthetic_data
    rows = [
        sample_row(image, seed, f"\x1a�g~ at imageY text {i}-{seed}", None, None, False)
        for i, image in pd.read_parquet(manifest).iterrows()
        for seed in (0, 1)
    ]
    samples = write_samples(tmp_path / "samples.parquet", pd.DataFrame(rows))
    queue_dir, out = tmp_path / "queue", tmp_path / "out"
    tiny = review_config("params.yaml")  # the preset as shipped: min_pairs 4, mode auto
    run_review_export(samples, manifest, data_root, queue_dir, tiny)
    result = run_review_import(
        queue_dir, data_root, out / "pairs.parquet", out / "report.json", out / "metrics.json", tiny
    )
    pairs = pd.read_parquet(out / "pairs.parquet")
    assert len(pairs) == result.counts["pairs"] == 16 >= tiny.min_pairs
    assert (pairs["text_source"] == "raw_text").all()
    # the paper preset's strict policy refuses the same samples, naming why
    paper = review_config("presets/paper.yaml")
    with pytest.raises(InputError, match=r"only 0 item\(s\) left.*bad_format=16"):
        run_review_export(samples, manifest, data_root, tmp_path / "q2", paper)
