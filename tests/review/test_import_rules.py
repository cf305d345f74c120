"""Import outcome rules, one table row per rule, and the refusal of bad exports."""

from __future__ import annotations

import json

import pytest

from realign_pipeline.errors import InputError, MissingInputError
from realign_pipeline.review.outcomes import check_tasks, decide_outcomes
from realign_pipeline.review.queue import read_queue
from realign_pipeline.review.reading import read_export
from tests.review.review_helpers import ls_full_export, write_json


@pytest.fixture
def exported(shared_export):
    """These tests only read the queue: share one export per module."""
    return shared_export


EARLY, LATE = "2026-01-05T10:00:00.000000Z", "2026-01-06T08:30:00.000000Z"


def _pick(exported, kind: str) -> int:
    """Index of a task: good (model answer = label), wrong (answer != label), raw (no answer)."""
    for index, task in enumerate(exported.tasks):
        result = {r["from_name"]: r["value"] for r in task["predictions"][0]["result"]}
        verdict = result.get("verdict", {}).get("choices", [None])[0]
        if kind == "raw" and verdict is None:
            return index
        if kind == "good" and verdict == task["data"]["label"]:
            return index
        if kind == "wrong" and verdict not in (None, task["data"]["label"]):
            return index
    raise AssertionError(kind)


def _decide(exported, tmp_path, annotations: dict[int, list[dict]]) -> dict[str, dict]:
    path = write_json(tmp_path / "export.json", ls_full_export(exported.tasks, annotations))
    parsed = read_export(path)
    queue, fingerprint = read_queue(exported.queue_dir)
    check_tasks(parsed, queue, fingerprint, exported.data_root, exported.cfg)
    return {i["sample_id"]: i for i in decide_outcomes(parsed, queue, exported.cfg)}


def _context(exported, kind: str) -> tuple[int, str, str, str]:
    index = _pick(exported, kind)
    data = exported.tasks[index]["data"]
    queued = exported.queue.set_index("sample_id").loc[data["sample_id"], "text"]
    other = "fake" if data["label"] == "real" else "real"
    return index, data["label"], other, queued


# (task kind, annotations built from (label, other, queued), outcome, reason, final text or None;
#  "=" means the queued text)
RULES = [
    # pressing Submit on the pre-filled task accepts it unchanged
    ("good", lambda lab, oth, q: [{}], "accepted", "unchanged", "="),
    # a changed reasoning is an edit, stored as typed
    (
        "good",
        lambda lab, oth, q: [{"text": "The hands have six fingers."}],
        "edited",
        "text_edited",
        "The hands have six fingers.",
    ),
    # the reviewer's keep/reject decision
    ("good", lambda lab, oth, q: [{"decision": "reject"}], "rejected", "reviewer_rejected", None),
    # a verdict that contradicts the ground truth rejects the item
    ("good", lambda lab, oth, q: [{"verdict": oth}], "rejected", "verdict_contradicts_label", None),
    # the model's wrong answer left as pre-filled also contradicts the label
    ("wrong", lambda lab, oth, q: [{}], "rejected", "verdict_contradicts_label", None),
    # ...and flipping it to the label keeps the item
    ("wrong", lambda lab, oth, q: [{"verdict": lab}], "accepted", "unchanged", "="),
    # no verdict at all is not a contradiction
    ("raw", lambda lab, oth, q: [{}], "accepted", "unchanged", "="),
    # deleting the reasoning (the TextArea result disappears) or blanking it
    ("good", lambda lab, oth, q: [{"text": None}], "rejected", "empty_text", None),
    ("good", lambda lab, oth, q: [{"text": "  \n "}], "rejected", "empty_text", None),
    # text edited down to a bare verdict, the label sentence, or an answer tag: no reasoning left
    ("good", lambda lab, oth, q: [{"text": lab.upper() + "!"}], "rejected", "no_reasoning", None),
    (
        "good",
        lambda lab, oth, q: [{"text": f"This is a {lab} image."}],
        "rejected",
        "no_reasoning",
        None,
    ),
    (
        "good",
        lambda lab, oth, q: [{"text": f"<answer>{lab}</answer>"}],
        "rejected",
        "no_reasoning",
        None,
    ),
    # the label sentence or the <think> wrapper pasted around the same text is not an edit
    (
        "good",
        lambda lab, oth, q: [{"text": f"This is a {lab} image. {q}"}],
        "accepted",
        "unchanged",
        "=",
    ),
    (
        "good",
        lambda lab, oth, q: [{"text": f"<think>{q}</think><answer>{lab}</answer>"}],
        "accepted",
        "unchanged",
        "=",
    ),
    (
        "good",
        lambda lab, oth, q: [{"text": q.replace(" ", " ") + "\r\n"}],
        "accepted",
        "unchanged",
        "=",
    ),
    # answer tags are not reasoning: dropped from an edit
    (
        "good",
        lambda lab, oth, q: [{"text": f"Six fingers. <answer>{lab}</answer>"}],
        "edited",
        "text_edited",
        "Six fingers.",
    ),
    # a <think> wrapper around new text: the new reasoning is what is kept
    (
        "good",
        lambda lab, oth, q: [{"text": "<think>Blurry text.</think><answer>x</answer>"}],
        "edited",
        "text_edited",
        "Blurry text.",
    ),
    # HTML/script stays as inert text, verbatim
    (
        "good",
        lambda lab, oth, q: [{"text": "<script>alert(1)</script> Odd shadows."}],
        "edited",
        "text_edited",
        "<script>alert(1)</script> Odd shadows.",
    ),
    # several annotations: the latest completed one wins, whatever the list order
    (
        "good",
        lambda lab, oth, q: [{"when": EARLY}, {"text": "Later edit.", "when": LATE}],
        "edited",
        "text_edited",
        "Later edit.",
    ),
    (
        "good",
        lambda lab, oth, q: [
            {"text": "Later edit.", "when": LATE},
            {"decision": "reject", "when": EARLY},
        ],
        "edited",
        "text_edited",
        "Later edit.",
    ),
    # a cancelled (skipped) annotation never decides, even when newer
    (
        "good",
        lambda lab, oth, q: [
            {"decision": "reject", "when": EARLY},
            {"cancelled": True, "when": LATE},
        ],
        "rejected",
        "reviewer_rejected",
        None,
    ),
    ("good", lambda lab, oth, q: [{"cancelled": True}], "unreviewed", "skipped", None),
    # a task nobody annotated
    ("good", lambda lab, oth, q: [], "unreviewed", "not_annotated", None),
]


@pytest.mark.parametrize(("kind", "build", "outcome", "reason", "text"), RULES)
def test_import_rule(exported, tmp_path, kind, build, outcome, reason, text) -> None:
    index, label, other, queued = _context(exported, kind)
    items = _decide(exported, tmp_path, {index: build(label, other, queued)})
    item = items[exported.tasks[index]["data"]["sample_id"]]
    assert (item["outcome"], item["reason"]) == (outcome, reason)
    assert item["text"] == (queued if text == "=" else text)
    # every other queued item is in the export without annotations
    others = [i for s, i in items.items() if s != item["sample_id"]]
    assert {(i["outcome"], i["reason"]) for i in others} == {("unreviewed", "not_annotated")}


def test_superseded_annotations_and_comments_are_recorded(exported, tmp_path) -> None:
    index, *_ = _context(exported, "good")
    anns = [{"when": EARLY}, {"when": LATE, "comment": "checked twice"}, {"cancelled": True}]
    item = _decide(exported, tmp_path, {index: anns})[exported.tasks[index]["data"]["sample_id"]]
    assert item["annotation_id"] == "2" and item["superseded"] == ["1"]
    assert item["cancelled"] == 1 and item["comment"] == "checked twice"


def test_duplicated_tasks_are_merged(exported, tmp_path) -> None:
    index, *_ = _context(exported, "good")
    tasks = exported.tasks + [exported.tasks[index]]  # the same task imported twice
    export = ls_full_export(
        tasks, {index: [{"when": EARLY}], len(tasks) - 1: [{"text": "Second copy.", "when": LATE}]}
    )
    path = write_json(tmp_path / "export.json", export)
    parsed = read_export(path)
    queue, fingerprint = read_queue(exported.queue_dir)
    check_tasks(parsed, queue, fingerprint, exported.data_root, exported.cfg)
    items = {i["sample_id"]: i for i in decide_outcomes(parsed, queue, exported.cfg)}
    item = items[exported.tasks[index]["data"]["sample_id"]]
    assert item["task_ids"] == [str(101 + index), str(101 + len(tasks) - 1)]
    assert (item["outcome"], item["text"]) == ("edited", "Second copy.")


def test_tasks_missing_from_export_are_unreviewed(exported, tmp_path) -> None:
    index, *_ = _context(exported, "good")
    export = ls_full_export(exported.tasks, {index: [{}]})
    path = write_json(tmp_path / "export.json", [export[index]])
    parsed = read_export(path)
    queue, _ = read_queue(exported.queue_dir)
    items = decide_outcomes(parsed, queue, exported.cfg)
    reasons = [i["reason"] for i in items]
    assert reasons.count("unchanged") == 1 and reasons.count("not_in_export") == len(queue) - 1


def _set(path: list, value):
    def change(export: list) -> None:
        node = export
        for key in path[:-1]:
            node = node[key]
        if value is _DELETE:
            del node[path[-1]]
        else:
            node[path[-1]] = value

    return change


_DELETE = object()
_RESULT = [0, "annotations", 0, "result"]
BAD_EXPORTS = [
    # a sample the queue never had
    (
        _set([0, "data", "sample_id"], "deadbeefdeadbeef"),
        r"task 101: sample_id 'deadbeef\w+' is "
        r"not in the queue",
    ),
    # an export made from another queue
    (
        _set([0, "data", "queue_fingerprint"], "0" * 64),
        r"task 101: queue_fingerprint 000000000000"
        r"\.\.\. is not this queue's .*different queue",
    ),
    (
        _set([0, "data", "queue_fingerprint"], _DELETE),
        r"task 101: field 'queue_fingerprint' "
        "missing",
    ),
    # image references outside the data root, or to another image
    (
        _set([0, "data", "image"], "/data/local-files/?d=data/../../etc/passwd"),
        r"task 101: image reference refused: path '\.\./\.\./etc/passwd' resolves outside",
    ),
    (
        _set([0, "data", "image"], "/data/local-files/?d=secrets/key.png"),
        r"task 101: image reference .* outside review.local_files_dir",
    ),
    (
        _set([0, "data", "image"], "/data/local-files/?d=data/train/0_real/gen_a_99.png"),
        r"task 101: image 'train/0_real/gen_a_99.png' is not the queued image",
    ),
    # results the labeling config cannot produce
    (
        _set(_RESULT + [0, "from_name"], "rating"),
        r"task 101 annotation 1: result for unknown "
        "control 'rating'",
    ),
    (
        _set(_RESULT + [1, "value", "choices"], ["maybe"]),
        r"task 101 annotation 1: verdict "
        r"'maybe' is not one of \['real', 'fake'\]",
    ),
    (
        _set(_RESULT + [1, "value", "choices"], ["real", "fake"]),
        r"task 101 annotation 1: verdict "
        "must be one choice",
    ),
    (
        _set(_RESULT + [0, "value", "text"], 42),
        r"task 101 annotation 1: reasoning text must be a "
        "string",
    ),
    (_set(_RESULT, "oops"), r"task 101 annotation 1: 'result' must be a list"),
    (
        _set([0, "annotations", 0, "updated_at"], "yesterday"),
        r"task 101 annotation 1: timestamp "
        "'yesterday' is not ISO 8601",
    ),
    (_set([0, "data"], "nope"), r"task #0: not a task object with a 'data' object"),
]


@pytest.mark.parametrize(("change", "message"), BAD_EXPORTS)
def test_bad_export_fails_naming_task_and_writes_nothing(exported, tmp_path, change, message):
    index, *_ = _context(exported, "good")
    tasks = [exported.tasks[index]] + exported.tasks[:index] + exported.tasks[index + 1 :]
    export = ls_full_export(tasks, {0: [{}], 1: [{}]})
    change(export)
    path = write_json(tmp_path / "export.json", export)
    with pytest.raises(InputError, match=message):
        exported.run_import(
            tmp_path, exported.cfg.model_copy(update={"mode": "human"}), export_path=path
        )
    assert not any(p.exists() for p in exported.outputs(tmp_path).values())


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        # truncated download
        ("export.json", '[{"id": 1, "data": {', r"malformed JSON at line 1 column 21"),
        # a single task object instead of the list
        ("export.json", '{"id": 1}', r"top level must be a list of tasks, got dict"),
        ("export.txt", "[]", r"unknown file type '\.txt'"),
        ("export.csv", "sample_id,text\nabc,hi\n", r"CSV lacks columns \['queue_fingerprint'"),
        ("export.jsonl", '{"sample_id": "a"}\nnot json\n', r"line 2 is not valid JSON"),
        ("export.json", b"\xff\xfe[\x00", r"not UTF-8 text"),
    ],
)
def test_malformed_files_are_refused(exported, tmp_path, name, content, message) -> None:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(InputError, match=message):
        read_export(path)


def test_json_min_records_of_one_task_must_agree(exported, tmp_path) -> None:
    record = {**exported.tasks[0]["data"], "id": 7, "annotation_id": 1, "reasoning": "x"}
    other = {**exported.tasks[1]["data"], "id": 7, "annotation_id": 2, "reasoning": "y"}
    path = write_json(tmp_path / "min.json", [record, other])
    with pytest.raises(InputError, match="task 7: records of one task carry different sample"):
        read_export(path)


def test_missing_export_in_human_mode_names_the_path(exported, tmp_path) -> None:
    out = exported.outputs(tmp_path)
    cfg = exported.cfg.model_copy(
        update={"mode": "human", "export_path": "data/review/missing.json"}
    )
    with pytest.raises(MissingInputError, match=r"data/review/missing\.json.*dvc add.*mode=auto"):
        exported.run_import(tmp_path, cfg)
    assert not any(p.exists() for p in out.values())


def test_report_json_is_valid_for_markup_comments(exported, tmp_path) -> None:
    index, *_ = _context(exported, "good")
    comment = '</script><b onclick="x">hi</b>'
    export = ls_full_export(exported.tasks, {index: [{"comment": comment}]})
    path = write_json(tmp_path / "export.json", export)
    exported.run_import(
        tmp_path, exported.cfg.model_copy(update={"mode": "human"}), export_path=path
    )
    report = json.loads(exported.outputs(tmp_path)["report"].read_text())
    assert comment in [i["comment"] for i in report["items"]]
