"""Stage output lines become one log record per event, at the right level."""

from __future__ import annotations

import logging

from tasks.stage_log import StageLog


def _records(lines: list[str]) -> tuple[list[tuple[int, str]], list[dict]]:
    records: list[tuple[int, str]] = []
    summaries: list[dict] = []
    log = StageLog(lambda level, message: records.append((level, message)), summaries.append)
    for line in lines:
        log.feed(line)
    log.close()
    return records, summaries


def test_levels_warnings_progress_and_summary() -> None:
    lines = [
        "Running stage 'align':",  # DVC's own line: INFO
        "> realign align --pairs artifacts/pairs",
        "01:02:03 INFO realign_pipeline.align.stage: Epoch 1: val {'acc': 0.5}",
        "/venv/lib/transformers/x.py:12: FutureWarning: `foo` is deprecated",
        "  warnings.warn(",  # the warning's source line continues its record
        "01:02:04 WARNING py.warnings: /venv/y.py:3: UserWarning: odd",
        " 50%|█████     | 1/2 [00:00<00:00, 10.0it/s]",  # tqdm: dropped
        "{",
        '  "stage": "align",',
        '  "metrics": {"val_acc": 0.5}',
        "}",
        "01:02:05 ERROR realign_pipeline.cli: boom",
        "Traceback (most recent call last):",
        '  File "x.py", line 1, in <module>',
    ]
    records, summaries = _records(lines)
    assert [level for level, _ in records] == [
        logging.INFO,
        logging.INFO,
        logging.INFO,
        logging.WARNING,
        logging.WARNING,
        logging.ERROR,
    ]
    assert records[3][1].endswith("deprecated\n  warnings.warn(")
    assert records[5][1].count("\n") == 2  # the error and its traceback: one record
    assert summaries == [{"stage": "align", "metrics": {"val_acc": 0.5}}]
    assert not any("%|" in message or '"stage"' in message for _, message in records)


def test_unfinished_or_invalid_json_is_logged_as_text() -> None:
    records, summaries = _records(["{", "  not json", "}", "{", '  "a": 1'])
    assert summaries == []
    assert [m for _, m in records] == ["{\n  not json\n}", '{\n  "a": 1']
