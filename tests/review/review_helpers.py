"""Builders for the review tests: samples tables, configs and Label Studio exports written in the
shapes Label Studio itself writes (full JSON export; JSON-MIN via the SDK's own converter)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from realign_pipeline.config.review import ReviewConfig

REPO_ROOT = Path(__file__).resolve().parents[2]
KEEP = object()  # "leave this control as pre-filled"
LABELS = {0: "real", 1: "fake"}


def review_config(preset: str = "params.yaml", **update: Any) -> ReviewConfig:
    """The review section of a preset with some fields replaced."""
    data = yaml.safe_load((REPO_ROOT / preset).read_text(encoding="utf-8"))["review"]
    return ReviewConfig.model_validate({**data, **update})


def sample_row(
    image: pd.Series,
    seed: int,
    raw: str,
    think: str | None,
    answer: str | None,
    format_ok: bool,
    question_id: str = "q0",
) -> dict[str, Any]:
    """One samples.parquet row (contract columns) for a manifest row."""
    return {
        "image_id": image["image_id"],
        "question_id": question_id,
        "seed": seed,
        "temperature": 0.7,
        "path": image["path"],
        "label": int(image["label"]),
        "generator": image["generator"],
        "raw_text": raw,
        "think": think,
        "answer": answer,
        "format_ok": format_ok,
        "correct": answer == LABELS[int(image["label"])],
        "n_tokens": len(raw.split()),
        "model_id": "tiny-aigi-r1",
    }


def make_samples(manifest: pd.DataFrame) -> pd.DataFrame:
    """Four samples per image: good (seed 0), wrong answer (1), no think block (2), and an exact
    duplicate of the good reasoning (3)."""
    rows = []
    for i, image in manifest.iterrows():
        label = LABELS[int(image["label"])]
        other = LABELS[1 - int(image["label"])]
        good = f"Image {i}: the edges and lighting look {label}."
        rows.append(
            sample_row(
                image, 0, f"<think>{good}</think><answer>{label}</answer>", good, label, True
            )
        )
        wrong = f"Image {i}: textures suggest {other}."
        rows.append(
            sample_row(
                image, 1, f"<think>{wrong}</think><answer>{other}</answer>", wrong, other, True
            )
        )
        rows.append(sample_row(image, 2, f"garbled tokens {i} fake real", None, None, False))
        rows.append(
            sample_row(
                image, 3, f"<think> {good} </think><answer>{label}</answer>", good, label, True
            )
        )
    df = pd.DataFrame(rows).sort_values(["image_id", "question_id", "seed", "temperature"])
    return df.reset_index(drop=True)


def write_samples(path: Path, samples: pd.DataFrame) -> Path:
    """Write a samples table to `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    samples.to_parquet(path, index=False)
    return path


def _set_result(result: list[dict], name: str, kind: str, key: str, value: Any) -> list[dict]:
    result = [r for r in result if r["from_name"] != name]
    if value is not None:
        result.append(
            {
                "id": f"{name}-m",
                "from_name": name,
                "to_name": "image",
                "type": kind,
                "origin": "manual",
                "value": {key: value},
            }
        )
    return result


def ls_annotation(
    task: dict,
    ann_id: int,
    *,
    text: Any = KEEP,
    verdict: Any = KEEP,
    decision: Any = KEEP,
    comment: str | None = None,
    cancelled: bool = False,
    when: str = "2026-01-05T10:00:00.000000Z",
) -> dict[str, Any]:
    """An annotation as Label Studio exports it: the pre-filled prediction, then the reviewer's
    changes (None removes a control's result, as deleting the text or unticking does)."""
    result = [] if cancelled else copy.deepcopy(task["predictions"][0]["result"])
    for r in result:
        r["origin"] = "prediction"
    if not cancelled:
        if text is not KEEP:
            result = _set_result(
                result, "reasoning", "textarea", "text", None if text is None else [text]
            )
        if verdict is not KEEP:
            result = _set_result(
                result, "verdict", "choices", "choices", None if verdict is None else [verdict]
            )
        if decision is not KEEP:
            result = _set_result(
                result, "decision", "choices", "choices", None if decision is None else [decision]
            )
        if comment is not None:
            result = _set_result(result, "comment", "textarea", "text", [comment])
    return {
        "id": ann_id,
        "completed_by": 1,
        "result": result,
        "was_cancelled": cancelled,
        "ground_truth": False,
        "created_at": when,
        "updated_at": when,
        "draft_created_at": None,
        "lead_time": 12.5,
        "prediction": {},
        "result_count": 0,
        "unique_id": f"u-{ann_id}",
        "import_id": None,
        "last_action": None,
        "bulk_created": False,
        "task": None,
        "project": 1,
        "updated_by": 1,
        "parent_prediction": None,
        "parent_annotation": None,
        "last_created_by": None,
    }


def ls_full_export(
    tasks: list[dict], annotations: dict[int, list[dict[str, Any]]], first_id: int = 101
) -> list[dict[str, Any]]:
    """A full JSON export of an LS project into which `tasks` were imported (ids from
    `first_id`); `annotations[i]` are keyword sets for `ls_annotation` on task i."""
    out = []
    ann_id = 1
    for index, task in enumerate(tasks):
        task_id = first_id + index
        anns = []
        for spec in annotations.get(index, []):
            ann = ls_annotation(task, ann_id, **spec)
            ann["task"] = task_id
            anns.append(ann)
            ann_id += 1
        out.append(
            {
                "id": task_id,
                "annotations": anns,
                "file_upload": "tasks.json",
                "drafts": [],
                "predictions": [task_id * 10],
                "data": copy.deepcopy(task["data"]),
                "meta": {},
                "created_at": "2026-01-01T09:00:00.000000Z",
                "updated_at": "2026-01-05T10:00:00.000000Z",
                "inner_id": index + 1,
                "total_annotations": sum(not a["was_cancelled"] for a in anns),
                "cancelled_annotations": sum(a["was_cancelled"] for a in anns),
                "total_predictions": 1,
                "comment_count": 0,
                "unresolved_comment_count": 0,
                "last_comment_updated_at": None,
                "project": 1,
                "updated_by": 1,
                "comment_authors": [],
            }
        )
    return out


def write_json(path: Path, obj: Any) -> Path:
    """Write JSON as Label Studio does (UTF-8, indented)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2, ensure_ascii=False), encoding="utf-8")
    return path


def to_json_min(full_export: Path, labeling_config: Path, out_dir: Path) -> Path:
    """Convert a full JSON export to JSON-MIN with Label Studio's own converter."""
    from label_studio_sdk.converter import Converter

    converter = Converter(
        config=labeling_config.read_text(encoding="utf-8"),
        project_dir=None,
        download_resources=False,
    )
    converter.convert_to_json_min(str(full_export), str(out_dir), is_dir=False)
    return out_dir / "result.json"
