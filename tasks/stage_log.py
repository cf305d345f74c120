"""Turn a stage's output lines into log records a person can read (no Prefect here).

`dvc repro` runs the `realign` CLI, whose output arrives here line by line. `StageLog` makes one
record per event at its own level: a `HH:MM:SS LEVEL name: message` line from the CLI's logging
starts a record at that level, a Python warning line (`file.py:12: FutureWarning: ...`) one at
WARNING, DVC's `ERROR: ...` and the CLI's `error: ...` one at ERROR, and indented lines (a
traceback's frames, a warning's source line) continue the record before them. tqdm bars are
dropped (progress artifacts show progress), and terminal colour codes are removed. The stage's
result does not pass through here: it travels in its result file (`stage_env.RESULT_FILE`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

_LOG_LINE = re.compile(r"^\d\d:\d\d:\d\d (DEBUG|INFO|WARNING|ERROR|CRITICAL) ")
_ERROR_LINE = re.compile(r"^(?i:(error|warning))\b[^:]*: ")  # DVC's `ERROR: `, realign's `error: `
_WARNING_LINE = re.compile(r"^\S.*:\d+: [A-Z]\w*Warning: ")
_PROGRESS_BAR = re.compile(r"\d+%\|.*\||\d+(\.\d+)?(it|s)/(s|it)\]")
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def strip_ansi(text: str) -> str:
    """`text` without terminal escape sequences (colours, cursor moves)."""
    return _ANSI.sub("", text)


class StageLog:
    """Group output lines into records for `emit(level, message)`; call `close()` at the end."""

    def __init__(self, emit: Callable[[int, str], None]) -> None:
        self.emit = emit
        self._level = logging.INFO
        self._lines: list[str] = []

    def feed(self, line: str) -> None:
        """Take one output line (without its newline)."""
        line = strip_ansi(line)
        if _PROGRESS_BAR.search(line):
            return
        if match := _LOG_LINE.match(line) or _ERROR_LINE.match(line):
            self._start(logging.getLevelName(match[1].upper()), line)
        elif _WARNING_LINE.match(line):
            self._start(logging.WARNING, line)
        elif self._lines and (line[:1].isspace() or line.startswith("Traceback")):
            self._lines.append(line)
        elif line.strip():
            self._start(logging.INFO, line)

    def close(self) -> None:
        """Emit what is still buffered."""
        self._flush()

    def _start(self, level: int, line: str) -> None:
        self._flush()
        self._level, self._lines = level, [line]

    def _flush(self) -> None:
        if self._lines:
            self.emit(self._level, "\n".join(self._lines))
            self._lines = []
