"""Read Label Studio exports of the review project: the full JSON export and JSON-MIN.

Full JSON (Export > JSON): a list of tasks, each `{"id", "data", "annotations": [{"id", "result",
"was_cancelled", "created_at", "updated_at", ...}], ...}` (`completions` is the old name of
`annotations`); a result item is `{"from_name", "to_name", "type", "value": {"text": [...]}}` or
`{"value": {"choices": [...]}}`.

JSON-MIN (Export > JSON-MIN): a list of flat records, one per submitted (not cancelled)
annotation, newest first, plus one record without `annotation_id` for a task with no annotations;
each holds the task data fields, `id` (task id), `annotation_id`, `created_at`, `updated_at`, and
one key per control: a string when it holds one choice or one text, else `{"choices": [...]}` /
`{"text": [...]}`. Cancelled (skipped) annotations do not appear in JSON-MIN.
"""

from __future__ import annotations

from typing import Any

from realign_pipeline.errors import InputError
from realign_pipeline.review.labelstudio import (
    COMMENT,
    DECISION,
    DECISIONS,
    REASONING,
    VERDICT,
    VERDICTS,
)
from realign_pipeline.review.records import (
    Annotation,
    ExportTask,
    check_choice,
    check_text,
    parse_timestamp,
    require_str,
)

_TEXT_CONTROLS = (REASONING, COMMENT)
_CHOICE_CONTROLS = {VERDICT: VERDICTS, DECISION: DECISIONS}


def is_full_json(items: list[Any]) -> bool:
    """True when the export holds full tasks (with `data`/`annotations`), not JSON-MIN records."""
    return any(
        isinstance(item, dict) and ("annotations" in item or "completions" in item)
        for item in items
    )


def _collect_results(result: object, where: str) -> dict[str, Any]:
    if not isinstance(result, list):
        raise InputError(f"{where}: 'result' must be a list, got {type(result).__name__}")
    values: dict[str, list[Any]] = {}
    for item in result:
        if not isinstance(item, dict) or not isinstance(item.get("value"), dict):
            raise InputError(f"{where}: result item {item!r} has no 'value' object")
        name = item.get("from_name")
        if name in _TEXT_CONTROLS:
            values.setdefault(name, []).append(item["value"].get("text"))
        elif name in _CHOICE_CONTROLS:
            values.setdefault(name, []).append(item["value"].get("choices"))
        else:
            raise InputError(
                f"{where}: result for unknown control {name!r}; the project's labeling config "
                f"must be the exported labeling_config.xml (controls {REASONING}, {VERDICT}, "
                f"{DECISION}, {COMMENT})"
            )
    return values


def _annotation_from_values(
    values: dict[str, list[Any]], annotation_id: str, cancelled: bool, stamp: Any, where: str
) -> Annotation:
    texts: dict[str, str | None] = {}
    for name in _TEXT_CONTROLS:
        parts = [check_text(v, name, where) for v in values.get(name, [])]
        present = [p for p in parts if p is not None]
        texts[name] = "\n".join(present) if present else None
    choices: dict[str, str | None] = {}
    for name, allowed in _CHOICE_CONTROLS.items():
        found = [check_choice(v, allowed, name, where) for v in values.get(name, [])]
        found = [f for f in found if f is not None]
        if len(set(found)) > 1:
            raise InputError(f"{where}: several {name} choices {found}")
        choices[name] = found[0] if found else None
    return Annotation(
        annotation_id=annotation_id,
        cancelled=cancelled,
        updated_at=stamp,
        text=texts[REASONING],
        verdict=choices[VERDICT],
        decision=choices[DECISION],
        comment=texts[COMMENT],
    )


def _full_annotation(ann: object, where: str, index: int) -> Annotation:
    if not isinstance(ann, dict):
        raise InputError(f"{where}: annotation {index} is not an object")
    ann_id = str(ann.get("id", index))
    here = f"{where} annotation {ann_id}"
    cancelled = bool(ann.get("was_cancelled") or ann.get("skipped"))
    stamp = parse_timestamp(ann.get("updated_at") or ann.get("created_at"), here)
    values = {} if cancelled else _collect_results(ann.get("result", []), here)
    return _annotation_from_values(values, ann_id, cancelled, stamp, here)


def parse_full_json(items: list[Any]) -> list[ExportTask]:
    """Tasks of a Label Studio full JSON export.

    Raises:
        InputError: a task or annotation is malformed (the message names the task).
    """
    tasks = []
    for index, item in enumerate(items):
        where = f"task #{index}"
        if not isinstance(item, dict) or not isinstance(item.get("data"), dict):
            raise InputError(f"{where}: not a task object with a 'data' object")
        task_id = str(item.get("id", f"#{index}"))
        where = f"task {task_id}"
        data = item["data"]
        annotations = item.get("annotations", item.get("completions", []))
        if not isinstance(annotations, list):
            raise InputError(f"{where}: 'annotations' must be a list")
        tasks.append(
            ExportTask(
                where=where,
                task_id=task_id,
                sample_id=require_str(data, "sample_id", where),
                fingerprint=require_str(data, "queue_fingerprint", where),
                image=require_str(data, "image", where),
                annotations=[_full_annotation(a, where, i) for i, a in enumerate(annotations)],
            )
        )
    return tasks


def _min_values(record: dict[str, Any], where: str) -> dict[str, list[Any]]:
    values: dict[str, list[Any]] = {}
    for name in (*_TEXT_CONTROLS, *_CHOICE_CONTROLS):
        if name not in record:
            continue
        value = record[name]
        key = "text" if name in _TEXT_CONTROLS else "choices"
        if isinstance(value, dict):
            value = value.get(key)
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            raise InputError(f"{where}: {name} holds several regions {value!r}")
        values[name] = [value]
    return values


def parse_json_min(items: list[Any]) -> list[ExportTask]:
    """Tasks of a Label Studio JSON-MIN export (records grouped by task id).

    Raises:
        InputError: a record is malformed (the message names the task).
    """
    tasks: dict[str, ExportTask] = {}
    for index, record in enumerate(items):
        if not isinstance(record, dict):
            raise InputError(f"record #{index}: not an object")
        task_id = str(record.get("id", f"#{index}"))
        where = f"task {task_id}"
        task = tasks.get(task_id)
        if task is None:
            task = ExportTask(
                where=where,
                task_id=task_id,
                sample_id=require_str(record, "sample_id", where),
                fingerprint=require_str(record, "queue_fingerprint", where),
                image=require_str(record, "image", where),
            )
            tasks[task_id] = task
        elif require_str(record, "sample_id", where) != task.sample_id:
            raise InputError(f"{where}: records of one task carry different sample ids")
        if record.get("annotation_id") is None:
            continue  # the task's "no annotations" record
        ann_id = str(record["annotation_id"])
        here = f"{where} annotation {ann_id}"
        stamp = parse_timestamp(record.get("updated_at") or record.get("created_at"), here)
        values = _min_values(record, here)
        task.annotations.append(_annotation_from_values(values, ann_id, False, stamp, here))
    return list(tasks.values())
