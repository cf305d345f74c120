"""The pre-review policy: every sample ends queued or dropped with one reason."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from realign_pipeline.errors import InputError
from realign_pipeline.review.policy import apply_policy, count_reasons, require_min_items
from tests.review.review_helpers import make_samples, review_config, sample_row


@pytest.fixture
def data(synthetic_data: tuple[Path, Path]) -> tuple[Path, pd.DataFrame, pd.DataFrame]:
    data_root, manifest_path = synthetic_data
    manifest = pd.read_parquet(manifest_path)
    return data_root, manifest, make_samples(manifest)


@pytest.mark.parametrize(
    ("update", "queued", "dropped"),
    [
        # tiny preset: keep wrong answers and malformed text, only the exact duplicates go
        ({}, 24, {"duplicate_text": 8}),
        # paper preset: wrong answers and broken formats go before review
        (
            {"drop_incorrect": True, "drop_bad_format": True, "fallback_raw_text": False},
            8,
            {"bad_format": 8, "incorrect": 8, "duplicate_text": 8},
        ),
        # no fallback: samples without <think> are dropped as no_think
        ({"fallback_raw_text": False}, 16, {"no_think": 8, "duplicate_text": 8}),
        # duplicates kept when asked, then the cap of 2 per image bites
        ({"drop_duplicate_texts": False, "max_per_image": 2}, 16, {"over_cap": 16}),
        # min_text_chars longer than every text: everything is empty_text
        ({"min_text_chars": 500}, 0, {"empty_text": 32}),
    ],
)
def test_policy_counts_add_up(data, update, queued, dropped) -> None:
    data_root, manifest, samples = data
    kept, out = apply_policy(samples, manifest, data_root, review_config(**update))
    counts = count_reasons(out["drop_reason"])
    assert len(kept) == queued
    assert {k: v for k, v in counts.items() if v} == dropped
    assert len(kept) + len(out) == len(samples)
    assert set(kept["sample_id"]).isdisjoint(out["sample_id"])


def test_policy_cap_prefers_correct_well_formed(data) -> None:
    data_root, manifest, samples = data
    kept, _ = apply_policy(samples, manifest, data_root, review_config(max_per_image=1))
    assert len(kept) == 8
    assert kept["correct"].all() and kept["format_ok"].all()
    assert (kept["text_source"] == "think").all()


def test_policy_records_raw_text_fallback(data) -> None:
    data_root, manifest, samples = data
    kept, _ = apply_policy(samples, manifest, data_root, review_config())
    raw = kept[kept["text_source"] == "raw_text"]
    assert len(raw) == 8
    assert raw["text"].str.startswith("garbled tokens").all()


def test_policy_drops_rows_without_a_readable_image(data) -> None:
    data_root, manifest, samples = data
    manifest = manifest.copy()
    first, second = manifest.index[:2]
    manifest.loc[first, "path"] = "../outside.png"  # escapes the data root
    (data_root / manifest.loc[second, "path"]).unlink()  # file gone
    stranger = manifest.iloc[2].copy()
    stranger["image_id"] = "f" * 64  # sampled image that ingest never saw
    extra = pd.DataFrame([sample_row(stranger, 0, "<think>x</think>", "x", "real", True)])
    samples = pd.concat([samples, extra], ignore_index=True)
    _, out = apply_policy(samples, manifest, data_root, review_config())
    counts = count_reasons(out["drop_reason"])
    assert counts["path_outside_root"] == 4
    assert counts["image_missing"] == 4
    assert counts["not_in_manifest"] == 1


def test_policy_takes_label_from_manifest(data) -> None:
    data_root, manifest, samples = data
    samples = samples.assign(label=1 - samples["label"], generator="wrong")
    kept, _ = apply_policy(samples, manifest, data_root, review_config())
    truth = manifest.set_index("image_id")
    assert (kept["label"].to_numpy() == truth.loc[kept["image_id"], "label"].to_numpy()).all()
    assert (kept["generator"] != "wrong").all()


def test_sample_id_is_stable_and_unique(data) -> None:
    data_root, manifest, samples = data
    a, _ = apply_policy(samples, manifest, data_root, review_config())
    b, _ = apply_policy(
        samples.sample(frac=1, random_state=1), manifest, data_root, review_config()
    )
    assert a["sample_id"].tolist() == b["sample_id"].tolist()
    assert a["sample_id"].is_unique


def test_require_min_items_names_counts_by_reason() -> None:
    with pytest.raises(InputError, match=r"only 2 item\(s\) left.*incorrect=5, bad_format=3"):
        require_min_items(2, 4, {"incorrect": 5, "bad_format": 3, "over_cap": 0}, "export")
    require_min_items(4, 4, {}, "export")  # enough: no error
