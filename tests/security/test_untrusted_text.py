"""Text from models, reviewers and data folders is carried as inert data, never run or rendered.

Reasoning text (model output, then Label Studio edits) goes into tasks.json and pairs.parquet
verbatim: not evaluated, not templated, not HTML-escaped or mangled. The Label Studio labeling
config is fixed (no user text, no HTML-rendering tags). The one document we write that is shown
rendered, the evaluation report (a Prefect markdown artifact), escapes names taken from the data.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import make_manifest
from tests.review.review_helpers import (
    ls_full_export,
    make_samples,
    review_config,
    write_json,
    write_samples,
)

HOSTILE = [
    "<script>alert('x')</script> the sky is smooth",
    "{{7*7}} ${jndi:ldap://example.invalid/a} %(x)s {0.__class__}",
    "__import__('os').system('touch PWNED') </TextArea><HyperText name='h' value='$x'/>",
    "&lt;b&gt; already-escaped &amp; <img src=x onerror=alert(1)>",
]
# Label Studio tags that render task data as HTML; our config must use none of them
HTML_TAGS = ("HyperText", "Html", "Markdown", "Text ")


@pytest.fixture
def queue(tmp_path: Path):  # noqa: ANN201
    """(data_root, queue folder, samples) exported with hostile reasoning text."""
    from realign_pipeline.review import run_review_export

    data_root = tmp_path / "data"
    manifest = tmp_path / "manifests" / "train.parquet"
    manifest.parent.mkdir(parents=True)
    rows = make_manifest(data_root)
    rows.to_parquet(manifest, index=False)
    samples = make_samples(rows)
    good = samples["think"].notna() & samples["format_ok"]
    hostile = [HOSTILE[i % len(HOSTILE)] + f" #{i}" for i in range(int(good.sum()))]
    samples.loc[good, "think"] = hostile
    samples.loc[good, "raw_text"] = [f"<think>{t}</think><answer>real</answer>" for t in hostile]
    write_samples(tmp_path / "reasoning" / "samples.parquet", samples)
    queue_dir = tmp_path / "review" / "queue"
    cfg = review_config(min_pairs=1)
    run_review_export(
        tmp_path / "reasoning" / "samples.parquet", manifest, data_root, queue_dir, cfg
    )
    return data_root, queue_dir, samples


def test_export_carries_hostile_text_verbatim_and_a_fixed_config(queue) -> None:
    from realign_pipeline.review.labelstudio import create_labeling_config

    _, queue_dir, samples = queue
    tasks = json.loads((queue_dir / "tasks.json").read_text(encoding="utf-8"))
    texts = {
        r["value"]["text"][0]
        for t in tasks
        for r in t["predictions"][0]["result"]
        if r["from_name"] == "reasoning"
    }
    expected = set(samples.loc[samples["think"].fillna("").str.contains("#"), "think"])
    assert expected <= texts  # byte-for-byte, not escaped
    configs = [p for p in queue_dir.iterdir() if p.suffix in (".xml", ".txt", ".html")]
    for text in [create_labeling_config(), *(p.read_text(encoding="utf-8") for p in configs)]:
        assert not any(tag in text for tag in HTML_TAGS)
        assert "script" not in text and "PWNED" not in text
        assert set(re.findall(r"<(\w+)", text)) <= {
            "View", "Header", "Image", "TextArea", "Choices", "Choice",
        }  # fmt: skip


def test_import_keeps_reviewer_text_as_inert_data(queue, tmp_path, monkeypatch) -> None:
    from realign_pipeline.review import run_review_import

    data_root, queue_dir, _ = queue
    monkeypatch.chdir(tmp_path)
    tasks = json.loads((queue_dir / "tasks.json").read_text(encoding="utf-8"))
    labels = pd.read_parquet(queue_dir / "queue.parquet").set_index("sample_id")["label"]
    # every item reviewed with the right verdict; the first ones' text replaced by the reviewer
    edits = {
        i: [{"verdict": "fake" if labels[t["data"]["sample_id"]] else "real"}]
        for i, t in enumerate(tasks)
    }
    for i, text in enumerate(HOSTILE):
        edits[i][0]["text"] = text
    export = write_json(tmp_path / "export.json", ls_full_export(tasks, edits))
    out = tmp_path / "pairs"
    run_review_import(
        queue_dir, data_root, out / "pairs.parquet", out / "report.json", out / "metrics.json",
        review_config(min_pairs=1, mode="human"), export_path=export,
    )  # fmt: skip
    pairs = pd.read_parquet(out / "pairs.parquet").set_index("sample_id")
    for i, text in enumerate(HOSTILE):
        row = pairs.loc[tasks[i]["data"]["sample_id"]]
        assert row["outcome"] == "edited"
        assert row["text_reasoning_only"] == text
        sentence = f"This is a {'fake' if row['label'] else 'real'} image."
        assert row["text_full"] == f"{sentence} {text}"
    assert not (tmp_path / "PWNED").exists() and not Path("PWNED").exists()


@pytest.mark.parametrize(
    ("name", "forbidden"),
    [
        ("<img src=x onerror=alert(1)>", "<img"),
        ("<script>alert(1)</script>", "<script"),
        ("gen|with|pipes", "| gen|with"),
        ("[click](javascript:alert(1))", "[click](javascript"),
    ],
)
def test_report_escapes_names_taken_from_the_data(name: str, forbidden: str) -> None:
    from realign_pipeline.evaluate.report import render_report

    gen = {"n_real": 1, "n_fake": 1, "acc": 0.5, "real_acc": 1.0, "fake_acc": 0.0, "ap": None}
    clean = {"macc": 0.5, "map": None, "best_acc": None, "ece": None, "n_images": 2}
    metrics = {name: {"none": {**clean, "generators": {name: {**gen, "best_acc": None}}}}}
    report = render_report(
        metrics, {name: 0}, condition_order=["none"], preprocessing="model", threshold=0.5
    )
    assert forbidden not in report
    table_rows = [
        line for line in report.splitlines() if line.startswith("| ") and "---" not in line
    ]
    # the generator row keeps its 8 cells: only unescaped pipes separate cells
    assert len(re.findall(r"(?<!\\)\|", table_rows[1])) == 9
