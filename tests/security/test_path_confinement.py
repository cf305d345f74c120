"""Paths read from a manifest, a pairs table, a CSV source or a samples table stay in their root.

Three escapes, each pointing at a valid image outside the data root (so reading it would
succeed and the escape would go unnoticed): `../outside/evil.png`, the same file's absolute
path, and a symlink inside the data root that leads to it. Every stage that reads images by a
table's path resolves it with `realign_pipeline.manifest.image_path` / `paths.resolve_within`
and must refuse all three: ingest (CSV sources), sample, align, evaluate and the review queue's
pre-review policy. The review import's Label Studio image references are covered in
tests/review/test_import_rules.py (`..` and references outside `review.local_files_dir`).
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

from realign_pipeline.manifest import image_path
from realign_pipeline.paths import PathEscapeError
from tests.conftest import make_manifest

REPO_ROOT = Path(__file__).resolve().parents[2]
PARAMS = REPO_ROOT / "params.yaml"


@pytest.fixture
def escapes(tmp_path: Path) -> tuple[Path, pd.DataFrame, list[str]]:
    """(data_root, manifest with 8 good rows + 3 escaping rows, the escaping paths)."""
    root = tmp_path / "data"
    manifest = make_manifest(root)
    outside = tmp_path / "outside" / "evil.png"
    outside.parent.mkdir()
    shutil.copyfile(root / manifest["path"].iloc[0], outside)
    link = root / "train" / "0_real" / "link.png"
    link.symlink_to(outside)
    bad = ["../outside/evil.png", str(outside), "train/0_real/link.png"]
    rows = []
    for i, rel in enumerate(bad):
        row = manifest.iloc[i].to_dict()
        row.update(path=rel, image_id=hashlib.sha256(f"evil{i}".encode()).hexdigest(), label=0)
        rows.append(row)
    frame = pd.concat([manifest, pd.DataFrame(rows)], ignore_index=True)
    frame["label"] = frame["label"].astype("int8")
    return root, frame, bad


def test_image_path_refuses_every_escape(escapes) -> None:
    root, _, bad = escapes
    for rel in bad:
        with pytest.raises(PathEscapeError, match="resolves outside its root"):
            image_path(root, rel)
    assert image_path(root, "train/0_real/gen_a_0.png").is_file()


def test_ingest_csv_source_rejects_escaping_rows(escapes, tmp_path) -> None:
    from realign_pipeline.config import load_params
    from realign_pipeline.data import run_ingest

    root, frame, bad = escapes
    good = frame["path"].iloc[:8].tolist()
    labels = [f"{p},{('real', 'fake')[i % 2]}" for i, p in enumerate(good)]  # both labels
    lines = ["path,label", *labels, *(f"{p},real" for p in bad)]
    (root / "list.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    source = {
        "name": "listed",
        "layout": "csv",
        "path": "list.csv",
        "csv": {"path_column": "path", "label_column": "label", "generator_column": None},
    }
    cfg = load_params(PARAMS).ingest.model_copy(update={"num_workers": 1, "benchmarks": []})
    cfg = type(cfg).model_validate({**cfg.model_dump(), "train_sources": [source]})
    run_ingest(root, tmp_path / "manifests", tmp_path / "ingest.json", cfg, seed=0)
    rejected = pd.read_parquet(tmp_path / "manifests" / "rejected.parquet")
    reasons = dict(zip(rejected["path"], rejected["reason"], strict=True))
    assert {p: reasons.get(p) for p in bad} == {
        bad[0]: "path_outside_root",
        bad[1]: "path_outside_root",
        bad[2]: "symlink_outside_root",
    }
    accepted = pd.concat(
        [pd.read_parquet(tmp_path / "manifests" / f) for f in ("train.parquet", "val.parquet")]
    )
    assert sorted(accepted["path"]) == sorted(good)


def test_sample_records_escaping_rows_and_never_generates_for_them(escapes, tmp_path) -> None:
    from realign_pipeline.config.sample import SampleConfig
    from realign_pipeline.sampling import run_sample
    from tests.sampling.conftest import FakeBackend

    root, frame, bad = escapes
    manifest = tmp_path / "train.parquet"
    frame.to_parquet(manifest, index=False)
    section = yaml.safe_load(PARAMS.read_text(encoding="utf-8"))["sample"]
    cfg = SampleConfig.model_validate(section).model_copy(
        update={"batch_size": 4, "max_new_tokens": 8, "temperatures": [1.0], "seeds": [0]}
    )
    out = tmp_path / "reasoning"
    run_sample(manifest, root, "fake", out, tmp_path / "m.json", cfg, backend=FakeBackend())
    rejected = pd.read_parquet(out / "rejected.parquet")
    evil = set(frame["image_id"].iloc[8:])
    assert set(rejected["image_id"]) == evil
    assert (rejected["error"] == "path_outside_data_root").all()
    assert not evil & set(pd.read_parquet(out / "samples.parquet")["image_id"])


@pytest.mark.parametrize("which", [0, 1, 2], ids=["dotdot", "absolute", "symlink"])
def test_align_refuses_an_escaping_pairs_path(escapes, which) -> None:
    from realign_pipeline.align.data import group_pairs

    root, frame, bad = escapes
    pairs = frame.iloc[:8].assign(text_full="This is a real image.")
    pairs.loc[0, "path"] = bad[which]
    with pytest.raises(PathEscapeError):
        group_pairs(pairs, root, "text_full")


def test_evaluate_records_escaping_rows_as_failures(escapes, tmp_path) -> None:
    from realign_pipeline.config import load_params
    from realign_pipeline.evaluate import run_evaluate
    from realign_pipeline.manifest import benchmark_file
    from tests.evaluate.conftest import make_tiny_detector

    root, frame, _ = escapes
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    frame.assign(split="benchmark").to_parquet(manifests / benchmark_file("demo"), index=False)
    cfg = load_params(PARAMS).evaluate.model_copy(update={"perturbations": []})
    detector = make_tiny_detector(tmp_path / "detector")
    out = tmp_path / "eval"
    result = run_evaluate(detector, manifests, root, out, tmp_path / "eval.json", cfg)
    failures = pd.read_parquet(out / "failures.parquet")
    evil = set(frame["image_id"].iloc[8:])
    assert set(failures["image_id"]) == evil
    assert (failures["reason"] == "path_outside_data_root").all()
    assert not evil & set(pd.read_parquet(out / "predictions.parquet")["image_id"])
    assert result.counts == {**result.counts, "failed": 3, "scored": 8}


def test_review_policy_drops_escaping_samples(escapes) -> None:
    from realign_pipeline.review.policy import apply_policy, count_reasons
    from tests.review.review_helpers import make_samples, review_config

    root, frame, _ = escapes
    samples = make_samples(frame)
    _, out = apply_policy(samples, frame, root, review_config())
    per_image = out.groupby("image_id")["drop_reason"].agg(set)
    for image_id in frame["image_id"].iloc[8:]:
        assert per_image[image_id] == {"path_outside_root"}
    assert count_reasons(out["drop_reason"])["path_outside_root"] == 3 * 4
