"""Label Studio formats of the queue: labeling config, import tasks, image references.

The labeling config shows the image, a header with the ground-truth label and generator, an
editable TextArea pre-filled with the reasoning, a required single-choice real/fake verdict, a
keep/reject decision and an optional comment. Each task's `predictions` pre-fill the TextArea
(`value.text`), the verdict (the model's own answer, when it gave one) and `keep`, so a reviewer
who agrees only presses Submit. Text is always carried as data values and TextArea text, never as
markup, so HTML or script in a completion stays inert text.

Image references: Label Studio local-files URLs (`/data/local-files/?d=<local_files_dir>/<path>`,
served from its LOCAL_FILES_DOCUMENT_ROOT) or `<base_url><path>`.
"""

from __future__ import annotations

import posixpath
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

import pandas as pd

from realign_pipeline.config.review import ReviewConfig
from realign_pipeline.errors import InputError
from realign_pipeline.review.queue import LABEL_NAMES

IMAGE = "image"
REASONING = "reasoning"
VERDICT = "verdict"
DECISION = "decision"
COMMENT = "comment"
VERDICTS = ("real", "fake")
DECISIONS = ("keep", "reject")
LOCAL_FILES_PREFIX = "/data/local-files/?d="
DATA_FIELDS = ("image", "sample_id", "label", "generator", "header", "queue_fingerprint")

LABELING_CONFIG = f"""<View>
  <Header value="$header"/>
  <Image name="{IMAGE}" value="$image" zoom="true"/>
  <Header value="Reasoning: correct it, or delete hallucinated or wrong statements"/>
  <TextArea name="{REASONING}" toName="{IMAGE}" editable="true" maxSubmissions="1" rows="10"
            required="true"/>
  <Header value="Your verdict on the image"/>
  <Choices name="{VERDICT}" toName="{IMAGE}" choice="single" showInline="true" required="true">
    <Choice value="real"/>
    <Choice value="fake"/>
  </Choices>
  <Header value="Keep this reasoning as training text?"/>
  <Choices name="{DECISION}" toName="{IMAGE}" choice="single" showInline="true" required="true">
    <Choice value="keep"/>
    <Choice value="reject"/>
  </Choices>
  <TextArea name="{COMMENT}" toName="{IMAGE}" placeholder="Optional comment" maxSubmissions="1"
            rows="2"/>
</View>
"""


def create_labeling_config() -> str:
    """The Label Studio labeling config XML of the review project."""
    return LABELING_CONFIG


def image_reference(path: str, cfg: ReviewConfig) -> str:
    """How a task points at the image at data-root-relative `path`."""
    if cfg.image_ref == "base_url":
        return cfg.base_url.rstrip("/") + "/" + quote(path)
    full = posixpath.join(cfg.local_files_dir, path) if cfg.local_files_dir else path
    return LOCAL_FILES_PREFIX + quote(full, safe="/")


def parse_image_reference(ref: object, cfg: ReviewConfig) -> str:
    """The data-root-relative path a task's image reference points at.

    Raises:
        InputError: the reference is not one this queue's settings produce (another host, no
            `?d=` parameter, outside `local_files_dir`).
    """
    if not isinstance(ref, str) or not ref:
        raise InputError(f"image reference {ref!r} is not a string")
    if cfg.image_ref == "base_url":
        base = cfg.base_url.rstrip("/") + "/"
        if not ref.startswith(base):
            raise InputError(f"image reference {ref!r} is not under review.base_url {base!r}")
        return unquote(ref[len(base) :])
    parts = urlsplit(ref)
    values = parse_qs(parts.query).get("d")
    if parts.path != "/data/local-files/" or not values or len(values) != 1:
        raise InputError(f"image reference {ref!r} is not a Label Studio local-files URL (?d=...)")
    full = values[0]
    if not cfg.local_files_dir:
        return full
    prefix = cfg.local_files_dir.rstrip("/") + "/"
    if not full.startswith(prefix):
        raise InputError(
            f"image reference {ref!r} is outside review.local_files_dir {cfg.local_files_dir!r}"
        )
    return full[len(prefix) :]


def _prediction(row: Any) -> dict[str, Any]:
    result: list[dict[str, Any]] = [
        {
            "id": REASONING,
            "from_name": REASONING,
            "to_name": IMAGE,
            "type": "textarea",
            "value": {"text": [row.text]},
        }
    ]
    if row.answer in VERDICTS:  # the model's own judgment; the reviewer confirms or flips it
        result.append(
            {
                "id": VERDICT,
                "from_name": VERDICT,
                "to_name": IMAGE,
                "type": "choices",
                "value": {"choices": [row.answer]},
            }
        )
    result.append(
        {
            "id": DECISION,
            "from_name": DECISION,
            "to_name": IMAGE,
            "type": "choices",
            "value": {"choices": ["keep"]},
        }
    )
    return {"model_version": str(row.model_id), "result": result}


def create_tasks(queue: pd.DataFrame, cfg: ReviewConfig) -> list[dict[str, Any]]:
    """Label Studio import JSON: one task per queue row with its pre-filled prediction."""
    tasks = []
    for row in queue.itertuples(index=False):
        label = LABEL_NAMES[int(row.label)]
        data = {
            "image": image_reference(row.path, cfg),
            "sample_id": row.sample_id,
            "label": label,
            "generator": str(row.generator),
            "header": f"Ground truth: {label} (generator: {row.generator}), item {row.sample_id}",
            "queue_fingerprint": row.queue_fingerprint,
        }
        tasks.append({"data": data, "predictions": [_prediction(row)]})
    return tasks


def validate_tasks(config: str, tasks: list[dict[str, Any]]) -> None:
    """Check the config and every task's data and prediction with Label Studio's own SDK.

    Raises:
        InputError: Label Studio would refuse the config or a task (the message names it).
    """
    from label_studio_sdk.label_interface import LabelInterface

    interface = LabelInterface(config)
    try:
        interface.validate()
    except Exception as exc:  # noqa: BLE001 - the SDK raises its own (sentry-ignored) type
        raise InputError(f"labeling config rejected by Label Studio: {exc}") from exc
    for index, task in enumerate(tasks):
        for obj in interface.objects:
            if obj.value_is_variable and task["data"].get(obj.value_name) is None:
                raise InputError(f"task {index}: data has no {obj.value_name!r}")
        for prediction in task["predictions"]:
            errors = interface.validate_prediction(prediction, return_errors=True)
            if errors:
                raise InputError(f"task {index}: prediction rejected: {'; '.join(errors)}")
