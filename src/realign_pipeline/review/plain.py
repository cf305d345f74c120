"""The plain round-trip format for teams without Label Studio: queue.csv / queue.jsonl.

One row per queue item with the columns `PLAIN_COLUMNS`. Reviewers edit `text` (the reasoning),
set `verdict` (real/fake; pre-filled with the model's answer when it gave one), set `decision` to
`keep` or `reject`, and may write a `comment`. A row whose `decision` is blank is unreviewed.
All other columns must stay as exported. CSV is UTF-8 (a spreadsheet's BOM is accepted) with
every field quoted; JSONL is one JSON object per line.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pandas as pd

from realign_pipeline.config.review import ReviewConfig
from realign_pipeline.errors import InputError
from realign_pipeline.review.labelstudio import DECISIONS, VERDICTS, image_reference
from realign_pipeline.review.queue import LABEL_NAMES
from realign_pipeline.review.records import (
    Annotation,
    ExportTask,
    check_choice,
    parse_timestamp,
    require_str,
)

PLAIN_COLUMNS = (
    "sample_id",
    "queue_fingerprint",
    "image",
    "label",
    "generator",
    "text",
    "verdict",
    "decision",
    "comment",
)


def create_plain_rows(queue: pd.DataFrame, cfg: ReviewConfig) -> list[dict[str, str]]:
    """The plain-format rows of a queue (decision and comment blank, verdict pre-filled)."""
    rows = []
    for row in queue.itertuples(index=False):
        rows.append(
            {
                "sample_id": row.sample_id,
                "queue_fingerprint": row.queue_fingerprint,
                "image": image_reference(row.path, cfg),
                "label": LABEL_NAMES[int(row.label)],
                "generator": str(row.generator),
                "text": row.text,
                "verdict": row.answer if row.answer in VERDICTS else "",
                "decision": "",
                "comment": "",
            }
        )
    return rows


def format_csv(rows: list[dict[str, str]]) -> str:
    """CSV text of plain rows, every field quoted."""
    buffer = io.StringIO()
    writer = csv.DictWriter(
        buffer, fieldnames=PLAIN_COLUMNS, quoting=csv.QUOTE_ALL, lineterminator="\n"
    )
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def format_jsonl(rows: list[dict[str, str]]) -> str:
    """JSONL text of plain rows."""
    return "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in rows)


def _read_rows(path: Path, fmt: str) -> list[tuple[str, dict[str, Any]]]:
    try:  # newline="": carriage returns inside quoted fields stay as written
        with path.open(encoding="utf-8-sig", newline="") as handle:
            text = handle.read()
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text ({exc.reason})") from None
    if fmt == "csv":
        reader = csv.DictReader(io.StringIO(text, newline=""))
        missing = [c for c in PLAIN_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise InputError(f"{path}: CSV lacks columns {missing}; expected {list(PLAIN_COLUMNS)}")
        # line numbers count the header as line 1
        return [(f"row {i + 2}", dict(r)) for i, r in enumerate(reader)]
    rows = []
    # split on "\n" only: str.splitlines would also cut at U+2028, U+0085 or \x1e, which
    # json.dumps(ensure_ascii=False) leaves unescaped inside strings
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"{path}: line {number} is not valid JSON ({exc.msg})") from None
        if not isinstance(record, dict):
            raise InputError(f"{path}: line {number} is not a JSON object")
        rows.append((f"line {number}", record))
    return rows


def parse_plain(path: Path, fmt: str) -> list[ExportTask]:
    """Tasks of a reviewed queue.csv / queue.jsonl (one task per row).

    Raises:
        InputError: a row is malformed (the message names the row).
    """
    tasks = []
    for number, (where, record) in enumerate(_read_rows(path, fmt), start=1):
        decision = check_choice(record.get("decision"), DECISIONS, "decision", where)
        task = ExportTask(
            where=where,
            task_id=where,
            sample_id=require_str(record, "sample_id", where),
            fingerprint=require_str(record, "queue_fingerprint", where),
            image=require_str(record, "image", where),
        )
        text = record.get("text")
        if text is not None and not isinstance(text, str):
            raise InputError(f"{where}: text must be a string, got {text!r}")
        comment = record.get("comment")
        if decision is not None:
            task.annotations.append(
                Annotation(
                    annotation_id=str(number),
                    cancelled=False,
                    updated_at=parse_timestamp(None, where),
                    text=text if text else None,
                    verdict=check_choice(record.get("verdict"), VERDICTS, "verdict", where),
                    decision=decision,
                    comment=str(comment) if comment else None,
                )
            )
        tasks.append(task)
    return tasks
