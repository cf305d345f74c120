"""The reviewers' work normalised from any export format: tasks holding annotations."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from realign_pipeline.errors import InputError

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Annotation:
    """One reviewer's submission (or skip) on one task.

    `text` is None when the submission has no reasoning result (the reviewer deleted it); the
    choices are None when not chosen.
    """

    annotation_id: str
    cancelled: bool
    updated_at: datetime
    text: str | None
    verdict: str | None
    decision: str | None
    comment: str | None

    @property
    def order(self) -> tuple[datetime, str]:
        """Sort key: latest update wins; the id breaks ties deterministically."""
        return (self.updated_at, self.annotation_id.rjust(20, "0"))


@dataclass
class ExportTask:
    """One task of an export, with every annotation found for it."""

    where: str  # "task 12" / "row 3": how messages name it
    task_id: str
    sample_id: str
    fingerprint: str
    image: str
    annotations: list[Annotation] = field(default_factory=list)


@dataclass(frozen=True)
class ParsedExport:
    """An export file read into tasks, with the format it was read as."""

    path: str
    format: str  # ls_json | ls_json_min | csv | jsonl
    tasks: list[ExportTask]


def parse_timestamp(value: object, where: str) -> datetime:
    """An export timestamp (ISO 8601, `Z` allowed) as an aware datetime; missing -> epoch.

    Raises:
        InputError: the value is present but not a timestamp.
    """
    if value is None or value == "":
        return _EPOCH
    if not isinstance(value, str):
        raise InputError(f"{where}: timestamp {value!r} is not a string")
    try:
        stamp = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InputError(f"{where}: timestamp {value!r} is not ISO 8601") from None
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)


def check_choice(value: object, allowed: tuple[str, ...], name: str, where: str) -> str | None:
    """A single choice among `allowed` (None when absent).

    Raises:
        InputError: several choices, or one outside `allowed`.
    """
    if value is None or value == "":
        return None
    if isinstance(value, list):
        if len(value) != 1:
            raise InputError(
                f"{where}: {name} must be one choice of {list(allowed)}, got {value!r}"
            )
        value = value[0]
    if not isinstance(value, str) or value.strip().lower() not in allowed:
        raise InputError(f"{where}: {name} {value!r} is not one of {list(allowed)}")
    return value.strip().lower()


def check_text(value: object, name: str, where: str) -> str | None:
    """TextArea content: a string or a list of strings (joined by newlines); None when absent.

    Raises:
        InputError: any other type.
    """
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "\n".join(value)
    raise InputError(f"{where}: {name} text must be a string or a list of strings, got {value!r}")


def require_str(data: dict, key: str, where: str) -> str:
    """A required non-empty string field of a task's data.

    Raises:
        InputError: it is absent or not a non-empty string.
    """
    value = data.get(key)
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value:
        hint = " (was this task exported by `realign review export`?)"
        raise InputError(f"{where}: field {key!r} missing or not a string{hint}")
    return value
