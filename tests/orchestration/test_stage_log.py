"""Stage output lines become one log record per event, at the right level, without colours."""

from __future__ import annotations

import logging

from tasks.stage_log import StageLog


def _records(lines: list[str]) -> list[tuple[int, str]]:
    records: list[tuple[int, str]] = []
    log = StageLog(lambda level, message: records.append((level, message)))
    for line in lines:
        log.feed(line)
    log.close()
    return records


def test_levels_warnings_progress_and_colours() -> None:
    lines = [
        "Running stage 'align':",  # DVC's own line: INFO
        "> realign align --pairs artifacts/pairs",
        "01:02:03 INFO realign_pipeline.align.stage: Epoch 1: val {'acc': 0.5}",
        "/venv/lib/transformers/x.py:12: FutureWarning: `foo` is deprecated",
        "  warnings.warn(",  # the warning's source line continues its record
        "01:02:04 WARNING py.warnings: /venv/y.py:3: UserWarning: odd",
        " 50%|█████     | 1/2 [00:00<00:00, 10.0it/s]",  # tqdm: dropped
        "",  # blank: dropped
        "01:02:05 ERROR realign_pipeline.cli: boom",
        "Traceback (most recent call last):",
        '  File "x.py", line 1, in <module>',
        "error: no such file: data",  # the `realign` CLI's one-line error
        "\x1b[31mERROR\x1b[39m: failed to reproduce 'align'",  # DVC's, coloured on a terminal
    ]
    records = _records(lines)
    assert [level for level, _ in records] == [
        logging.INFO,
        logging.INFO,
        logging.INFO,
        logging.WARNING,
        logging.WARNING,
        logging.ERROR,
        logging.ERROR,
        logging.ERROR,
    ]
    assert records[3][1].endswith("deprecated\n  warnings.warn(")
    assert records[5][1].count("\n") == 2  # the error and its traceback: one record
    assert records[7][1] == "ERROR: failed to reproduce 'align'"
    assert not any("%|" in message or "\x1b" in message for _, message in records)
