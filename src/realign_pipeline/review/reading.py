"""Read an experts' export in any supported format into `ParsedExport`.

Formats, by file name: `.csv` and `.jsonl` are the plain round trip (see `plain.py`); `.json` is
a Label Studio export, full JSON when its items carry `annotations`, else JSON-MIN.
"""

from __future__ import annotations

import json
from pathlib import Path

from realign_pipeline.errors import InputError, MissingInputError
from realign_pipeline.review.ls_export import is_full_json, parse_full_json, parse_json_min
from realign_pipeline.review.plain import parse_plain
from realign_pipeline.review.records import ParsedExport

FORMATS = ("ls_json", "ls_json_min", "csv", "jsonl")


def read_export(path: str | Path) -> ParsedExport:
    """Read and parse an export file.

    Raises:
        MissingInputError: the file does not exist.
        InputError: the file is malformed (the message names the task or line and the problem).
    """
    path = Path(path)
    if not path.is_file():
        raise MissingInputError(
            f"experts' export not found: {path}. Review the queue (docs/review.md), export it "
            f"from Label Studio as JSON or JSON-MIN (or fill in queue.csv/queue.jsonl), save it "
            f"there and `dvc add` it; or set review.mode=auto to import without humans"
        )
    suffix = path.suffix.lower()
    if suffix in (".csv", ".jsonl"):
        fmt = suffix[1:]
        return ParsedExport(str(path), fmt, parse_plain(path, fmt))
    if suffix != ".json":
        raise InputError(
            f"experts' export {path}: unknown file type {suffix!r}; expected .json (Label "
            "Studio JSON or JSON-MIN), .csv or .jsonl"
        )
    try:
        items = json.loads(path.read_text(encoding="utf-8-sig"))
    except json.JSONDecodeError as exc:
        raise InputError(
            f"experts' export {path}: malformed JSON at line {exc.lineno} column {exc.colno} "
            f"({exc.msg}); export it again from Label Studio"
        ) from None
    except UnicodeDecodeError as exc:
        raise InputError(f"experts' export {path}: not UTF-8 text ({exc.reason})") from None
    if not isinstance(items, list):
        raise InputError(
            f"experts' export {path}: top level must be a list of tasks, got {type(items).__name__}"
        )
    if is_full_json(items):
        return ParsedExport(str(path), "ls_json", parse_full_json(items))
    return ParsedExport(str(path), "ls_json_min", parse_json_min(items))
