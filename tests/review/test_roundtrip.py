"""Export -> simulated reviewers in Label Studio's export shapes -> import: every edit arrives,
and the counts add up to the queue size."""

from __future__ import annotations

import csv
import json

import pandas as pd
import pytest

from realign_pipeline.review import check_export
from tests.review.review_helpers import ls_full_export, to_json_min, write_json

LATE = "2026-01-07T12:00:00.000000Z"


def _plan(tasks: list[dict]) -> tuple[dict[int, list[dict]], dict[str, tuple[str, str | None]]]:
    """Reviewer actions over the 24 tasks and the (outcome, text) expected per sample_id
    (text None: the queued text; "" for no pair)."""
    annotations: dict[int, list[dict]] = {}
    expected: dict[str, tuple[str, str | None]] = {}
    for index, task in enumerate(tasks):
        sid, label = task["data"]["sample_id"], task["data"]["label"]
        result = {r["from_name"]: r["value"] for r in task["predictions"][0]["result"]}
        prefilled = result.get("verdict", {}).get("choices", [None])[0]
        case = index % 6
        if case == 0:  # edit the reasoning, confirm the label
            text = f"Reviewed {index}: <b>{label}</b> because of the lighting."
            annotations[index] = [{"text": text, "verdict": label}]
            expected[sid] = ("edited", text)
        elif case == 1:  # submit as pre-filled (wrong model answers get corrected)
            annotations[index] = [{"verdict": label}]
            expected[sid] = ("accepted", None)
        elif case == 2:  # reject as hallucinated
            annotations[index] = [{"decision": "reject", "comment": "hallucinated"}]
            expected[sid] = ("rejected", "")
        elif case == 3:  # accept, then a second reviewer edits later
            text = f"Second opinion {index}."
            annotations[index] = [
                {"verdict": label},
                {"text": text, "verdict": label, "when": LATE},
            ]
            expected[sid] = ("edited", text)
        elif case == 4:  # left untouched
            expected[sid] = ("unreviewed", "")
        else:  # submitted as pre-filled: accepted only if the model's answer was right
            annotations[index] = [{}]
            expected[sid] = ("accepted", None) if prefilled in (None, label) else ("rejected", "")
    return annotations, expected


def _check(exported, tmp_path, export_path, expected) -> dict:
    out = exported.outputs(tmp_path)
    cfg = exported.cfg.model_copy(update={"mode": "human"})
    head = check_export(export_path, exported.queue_dir, exported.data_root, cfg)
    # the flow's pause calls it with the queue alone: settings and root come from the queue
    assert check_export(export_path, exported.queue_dir) == head
    assert not any(p.exists() for p in out.values())  # the check writes nothing
    result = exported.run_import(tmp_path, cfg, export_path=export_path)
    report = json.loads(out["report"].read_text())
    pairs = pd.read_parquet(out["pairs"])
    queue = exported.queue.set_index("sample_id")
    counts = report["counts"]
    assert sum(counts.values()) == len(queue) == report["queue_size"]
    for outcome, reasons in report["reasons"].items():
        assert sum(reasons.values()) == counts[outcome]
    assert len(pairs) == counts["accepted"] + counts["edited"] == result.counts["pairs"]
    assert head["counts"] == counts
    by_item = {i["sample_id"]: i["outcome"] for i in report["items"]}
    assert {s: o for s, (o, _) in expected.items()} == by_item
    texts = pairs.set_index("sample_id")["text_reasoning_only"]
    for sid, (outcome, text) in expected.items():
        if outcome in ("accepted", "edited"):
            want = queue.loc[sid, "text"] if text is None else text
            assert texts[sid] == want  # every edit arrives verbatim
        else:
            assert sid not in texts.index
    assert json.loads(out["metrics"].read_text())["pairs"] == len(pairs)
    return report


def test_round_trip_label_studio_full_json(exported, tmp_path) -> None:
    annotations, expected = _plan(exported.tasks)
    path = write_json(tmp_path / "export.json", ls_full_export(exported.tasks, annotations))
    report = _check(exported, tmp_path, path, expected)
    assert report["export_format"] == "ls_json"
    assert report["superseded_annotations"] == 4
    counts = report["counts"]
    assert (counts["edited"], counts["unreviewed"]) == (8, 4)
    assert counts["accepted"] + counts["rejected"] == 12
    assert "hallucinated" in [i["comment"] for i in report["items"]]


def test_round_trip_label_studio_json_min(exported, tmp_path) -> None:
    annotations, expected = _plan(exported.tasks)
    full = write_json(
        tmp_path / "full" / "export.json", ls_full_export(exported.tasks, annotations)
    )
    path = to_json_min(full, exported.queue_dir / "labeling_config.xml", tmp_path / "min")
    records = json.loads(path.read_text())
    assert isinstance(records[0]["reasoning"], str)  # JSON-MIN flattens single values
    report = _check(exported, tmp_path, path, expected)
    assert report["export_format"] == "ls_json_min"


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_round_trip_plain_files(exported, tmp_path, fmt) -> None:
    source = exported.queue_dir / f"queue.{fmt}"
    if fmt == "csv":
        with open(source, newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    else:
        rows = [json.loads(line) for line in source.read_text().splitlines()]
    expected = {}
    for index, row in enumerate(rows):
        case = index % 4
        if case == 0:
            # quotes, commas, newlines and separators that str.splitlines would cut at
            text = f'Edited "{index}",\nline 2\u2028\x85\x1e end'
            row.update(decision="keep", verdict=row["label"], text=text)
            expected[row["sample_id"]] = ("edited", row["text"])
        elif case == 1:
            row.update(decision="keep", verdict=row["label"])
            expected[row["sample_id"]] = ("accepted", None)
        elif case == 2:
            row.update(decision="reject", comment="wrong")
            expected[row["sample_id"]] = ("rejected", "")
        else:  # decision left blank
            expected[row["sample_id"]] = ("unreviewed", "")
    path = tmp_path / f"reviewed.{fmt}"
    if fmt == "csv":  # as a spreadsheet saves it: BOM, CRLF line ends
        with open(path, "w", newline="", encoding="utf-8-sig") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]), lineterminator="\r\n")
            writer.writeheader()
            writer.writerows(rows)
    else:
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    report = _check(exported, tmp_path, path, expected)
    assert report["export_format"] == fmt
