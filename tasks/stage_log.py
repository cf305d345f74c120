"""Turn a stage's output lines into log records a person can read (no Prefect here).

`dvc repro` runs the `realign` CLI, whose output arrives here line by line. `StageLog` makes one
record per event at its own level: a `HH:MM:SS LEVEL name: message` line from the CLI's logging
starts a record at that level, a Python warning line (`file.py:12: FutureWarning: ...`) one at
WARNING, and indented lines (a traceback's frames, a warning's source line) continue the record
before them. tqdm bars are dropped (progress artifacts show progress), and the stage's JSON result
(printed by the CLI as one `{ ... }` block) goes to `on_summary` instead of the log.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable

_LOG_LINE = re.compile(r"^\d\d:\d\d:\d\d (DEBUG|INFO|WARNING|ERROR|CRITICAL) ")
_WARNING_LINE = re.compile(r"^\S.*:\d+: [A-Z]\w*Warning: ")
_PROGRESS_BAR = re.compile(r"\d+%\|.*\||\d+(\.\d+)?(it|s)/(s|it)\]")
_LEVELS = {name: getattr(logging, name) for name in ("DEBUG", "INFO", "WARNING", "ERROR")}
_LEVELS["CRITICAL"] = logging.CRITICAL


class StageLog:
    """Group output lines into records for `emit(level, message)`; call `close()` at the end."""

    def __init__(
        self,
        emit: Callable[[int, str], None],
        on_summary: Callable[[dict], None] | None = None,
    ) -> None:
        self.emit = emit
        self.on_summary = on_summary
        self._level = logging.INFO
        self._lines: list[str] = []
        self._json: list[str] | None = None  # lines of a JSON block being read

    def feed(self, line: str) -> None:
        """Take one output line (without its newline)."""
        if self._json is not None:
            self._json.append(line)
            if line == "}":
                self._end_json()
            return
        if line == "{" and self.on_summary is not None:
            self._flush()
            self._json = [line]
        elif _PROGRESS_BAR.search(line):
            return
        elif match := _LOG_LINE.match(line):
            self._start(_LEVELS[match[1]], line)
        elif _WARNING_LINE.match(line):
            self._start(logging.WARNING, line)
        elif self._lines and (line[:1].isspace() or line.startswith("Traceback")):
            self._lines.append(line)
        else:
            self._start(logging.INFO, line)

    def close(self) -> None:
        """Emit what is still buffered (an unfinished JSON block is logged as text)."""
        if self._json is not None:
            lines, self._json = self._json, None
            self._lines, self._level = lines, logging.INFO
        self._flush()

    def _start(self, level: int, line: str) -> None:
        self._flush()
        self._level, self._lines = level, [line]

    def _flush(self) -> None:
        if self._lines:
            self.emit(self._level, "\n".join(self._lines))
            self._lines = []

    def _end_json(self) -> None:
        lines, self._json = self._json or [], None
        try:
            summary = json.loads("\n".join(lines))
        except ValueError:
            self._lines, self._level = lines, logging.INFO
            self._flush()
            return
        if isinstance(summary, dict) and self.on_summary is not None:
            self.on_summary(summary)
