"""`run_review_export`: the queue folder, Label Studio's own validation, image references."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pandas as pd
import pytest
from label_studio_sdk.label_interface import LabelInterface

from realign_pipeline.errors import InputError, MissingInputError
from realign_pipeline.review import run_review_export
from realign_pipeline.review.labelstudio import image_reference, parse_image_reference
from realign_pipeline.review.queue import QUEUE_COLUMNS, read_queue, read_queue_settings
from tests.review.review_helpers import make_samples, review_config, write_samples

FILES = (
    "queue.parquet",
    "dropped.parquet",
    "labeling_config.xml",
    "tasks.json",
    "queue.csv",
    "queue.jsonl",
    "summary.json",
)


def test_export_writes_the_queue_folder(exported) -> None:
    assert sorted(p.name for p in exported.queue_dir.iterdir()) == sorted(FILES)
    queue, fingerprint = read_queue(exported.queue_dir)
    assert list(queue.columns) == list(QUEUE_COLUMNS)
    assert len(queue) == 24 and (queue["queue_fingerprint"] == fingerprint).all()
    summary = json.loads((exported.queue_dir / "summary.json").read_text())
    assert summary["counts"]["read"] == summary["counts"]["queued"] + summary["counts"]["dropped"]
    assert summary["dropped_by_reason"]["duplicate_text"] == 8
    dropped = pd.read_parquet(exported.queue_dir / "dropped.parquet")
    assert len(dropped) == 8 and set(dropped["drop_reason"]) == {"duplicate_text"}


def test_tasks_validate_with_label_studio_sdk(exported) -> None:
    config = (exported.queue_dir / "labeling_config.xml").read_text()
    interface = LabelInterface(config)
    interface.validate()  # raises on an invalid config
    queue = exported.queue.set_index("sample_id")
    for task in exported.tasks:
        assert interface.validate_task({"data": task["data"]})
        for prediction in task["predictions"]:
            assert interface.validate_prediction(prediction, return_errors=True) == []
        row = queue.loc[task["data"]["sample_id"]]
        result = {r["from_name"]: r["value"] for r in task["predictions"][0]["result"]}
        assert result["reasoning"] == {"text": [row["text"]]}
        assert result["decision"] == {"choices": ["keep"]}
        # the verdict is pre-filled with the model's own answer only when it gave one
        answer = row["answer"] if isinstance(row["answer"], str) else None
        assert result.get("verdict") == ({"choices": [answer]} if answer else None)
        assert task["data"]["label"] == ("fake" if row["label"] else "real")


def test_sdk_refuses_a_bad_prediction(exported) -> None:
    # guards the check above: the SDK does see a verdict outside real/fake
    interface = LabelInterface((exported.queue_dir / "labeling_config.xml").read_text())
    bad = {
        "result": [
            {
                "from_name": "verdict",
                "to_name": "image",
                "type": "choices",
                "value": {"choices": ["maybe"]},
            }
        ]
    }
    assert interface.validate_prediction(bad, return_errors=True)


def test_export_is_deterministic(exported) -> None:
    before = {name: (exported.queue_dir / name).read_bytes() for name in FILES}
    run_review_export(
        exported.samples, exported.manifest, exported.data_root, exported.queue_dir, exported.cfg
    )
    after = {name: (exported.queue_dir / name).read_bytes() for name in before}
    assert before == after


def test_plain_export_rows_match_queue(exported) -> None:
    with open(exported.queue_dir / "queue.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    lines = (exported.queue_dir / "queue.jsonl").read_text().splitlines()
    assert rows == [json.loads(line) for line in lines]
    assert [r["sample_id"] for r in rows] == exported.queue["sample_id"].tolist()
    assert {r["decision"] for r in rows} == {""}  # blank until a reviewer decides


def test_markup_in_text_stays_inert(synthetic_data, tmp_path) -> None:
    data_root, manifest = synthetic_data
    samples = make_samples(pd.read_parquet(manifest))
    evil = '<script>alert("x")</script><img src=x onerror=alert(1)> & "quotes"'
    samples.loc[0, "think"] = evil
    out = tmp_path / "queue"
    run_review_export(
        write_samples(tmp_path / "s.parquet", samples),
        manifest,
        data_root,
        out,
        review_config(min_pairs=1),
    )
    tasks = json.loads((out / "tasks.json").read_text())
    texts = [t["predictions"][0]["result"][0]["value"]["text"][0] for t in tasks]
    assert evil in texts  # verbatim string value, not markup
    assert "<script>" not in (out / "labeling_config.xml").read_text()


def test_export_refuses_too_few_items_and_writes_nothing(synthetic_data, tmp_path) -> None:
    data_root, manifest = synthetic_data
    samples = write_samples(tmp_path / "s.parquet", make_samples(pd.read_parquet(manifest)))
    cfg = review_config(drop_incorrect=True, drop_bad_format=True, min_pairs=50)
    with pytest.raises(InputError, match=r"only 8 item\(s\).*bad_format=8, incorrect=8"):
        run_review_export(samples, manifest, data_root, tmp_path / "queue", cfg)
    assert not (tmp_path / "queue").exists()


def test_export_names_missing_inputs(synthetic_data, tmp_path) -> None:
    data_root, manifest = synthetic_data
    with pytest.raises(MissingInputError, match="samples not found.*realign sample"):
        run_review_export(
            tmp_path / "nope.parquet", manifest, data_root, tmp_path / "q", review_config()
        )
    bad = write_samples(tmp_path / "bad.parquet", pd.DataFrame({"image_id": ["a"]}))
    with pytest.raises(InputError, match="missing columns"):
        run_review_export(bad, manifest, data_root, tmp_path / "q", review_config())


def test_export_reads_the_sample_stage_contract(synthetic_data, tmp_path) -> None:
    from realign_pipeline.samples import REQUIRED_SAMPLE_COLUMNS, SAMPLE_COLUMNS
    from realign_pipeline.sampling.store import SAMPLE_SCHEMA

    assert tuple(SAMPLE_SCHEMA.names) == SAMPLE_COLUMNS  # what the sample stage writes
    data_root, manifest = synthetic_data
    samples = make_samples(pd.read_parquet(manifest))
    assert set(samples.columns) >= set(SAMPLE_COLUMNS)
    # n_tokens is optional: a table made by another tool may lack it
    lean = write_samples(tmp_path / "lean.parquet", samples.drop(columns="n_tokens"))
    result = run_review_export(lean, manifest, data_root, tmp_path / "q1", review_config())
    assert result.counts["queued"] > 0
    for column in REQUIRED_SAMPLE_COLUMNS:
        short = write_samples(tmp_path / f"no-{column}.parquet", samples.drop(columns=column))
        with pytest.raises(InputError, match=f"missing columns \\['{column}'\\]"):
            run_review_export(short, manifest, data_root, tmp_path / "q2", review_config())


@pytest.mark.parametrize(
    ("update", "path", "ref"),
    [
        # local files under the document root's data/ folder
        ({}, "train/1_fake/a b.png", "/data/local-files/?d=data/train/1_fake/a%20b.png"),
        # the data root is the document root itself
        ({"local_files_dir": ""}, "train/x.png", "/data/local-files/?d=train/x.png"),
        # a web server in front of the data root
        (
            {"image_ref": "base_url", "base_url": "https://files.example/data/"},
            "train/x.png",
            "https://files.example/data/train/x.png",
        ),
    ],
)
def test_image_reference_round_trips(update, path, ref) -> None:
    cfg = review_config(**update)
    assert image_reference(path, cfg) == ref
    assert parse_image_reference(ref, cfg) == path


@pytest.mark.parametrize(
    "ref",
    [
        "/data/local-files/?d=other/train/x.png",  # outside local_files_dir
        "/data/upload/1/x.png",  # not a local-files URL
        "https://elsewhere.example/x.png",  # another host
        None,  # not a string
    ],
)
def test_image_reference_refuses_foreign_references(ref) -> None:
    with pytest.raises(InputError, match="image reference"):
        parse_image_reference(ref, review_config())


def test_base_url_mode_needs_a_url() -> None:
    with pytest.raises(ValueError, match="review.base_url must be an http"):
        review_config(image_ref="base_url", base_url="")


def test_read_queue_detects_a_hand_edited_queue(exported, tmp_path: Path) -> None:
    queue = exported.queue
    queue.loc[0, "text"] = "changed by hand"
    queue.to_parquet(exported.queue_dir / "queue.parquet", index=False)
    with pytest.raises(InputError, match="fingerprint does not match"):
        read_queue(exported.queue_dir)


def test_queue_settings_are_recorded_for_check_export(exported) -> None:
    cfg, root = read_queue_settings(exported.queue_dir)
    assert cfg == exported.cfg and root == exported.data_root.resolve()
    summary_path = exported.queue_dir / "summary.json"
    summary = json.loads(summary_path.read_text())
    summary["policy"]["renamed_key"] = 1  # a queue exported by another version
    summary_path.write_text(json.dumps(summary))
    with pytest.raises(InputError, match="recorded settings no longer valid"):
        read_queue_settings(exported.queue_dir)
