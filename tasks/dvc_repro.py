"""`python tasks/dvc_repro.py STAGE [--force]`: `dvc repro --single-item STAGE` through DVC's API.

The caller learns what happened from the exit code and DVC's own exceptions, never from DVC's
English messages: 0 = done, and the last stdout line is `{"reproduced": true|false}` (false: the
stage was up to date, nothing ran); EXIT_TRANSIENT (75, EX_TEMPFAIL) = DVC's repo lock is held by
another process, or the stage's command itself exited 75 (a server it needs was unreachable):
worth a retry; 1 = any other failure, with DVC's message and its causes as the last stderr line.

A failed stage leaves the workspace as it was: DVC deletes a stage's outputs before running its
command, so the outputs recorded in dvc.lock are checked out again from the cache, and outputs
DVC does not cache (metrics files) are put back from a copy taken before the run.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from realign_pipeline.stage_env import EXIT_TRANSIENT

BACKUP = Path(".dvc/tmp/realign-restore")


def _record_exit_status() -> None:
    """Keep the command's exit status on StageCmdFailedError as `.status` (DVC 3.67 only puts it
    into the message)."""
    from dvc.stage.exceptions import StageCmdFailedError

    init = StageCmdFailedError.__init__
    if getattr(init, "keeps_status", False):
        return

    def keep_status(self, cmd, status=None) -> None:  # noqa: ANN001 - DVC's signature
        init(self, cmd, status)
        self.status = status

    keep_status.keeps_status = True
    StageCmdFailedError.__init__ = keep_status


def stage_exit_status(exc: BaseException | None) -> int | None:
    """The stage command's exit status behind a ReproductionError, if that is the cause."""
    from dvc.stage.exceptions import StageCmdFailedError

    while exc is not None:
        if isinstance(exc, StageCmdFailedError):
            return getattr(exc, "status", None)
        exc = exc.__cause__ or exc.__context__
    return None


def error_chain(exc: BaseException) -> str:
    """DVC's message with its causes, e.g. `failed to reproduce 'ingest': missing data 'data'`."""
    parts: list[str] = []
    while exc is not None:
        text = str(exc).strip()
        if text and text not in parts:
            parts.append(text)
        exc = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
    return ": ".join(parts)


def _backup_uncached(stage) -> list[tuple[Path, Path]]:  # noqa: ANN001 - a dvc Stage
    """Copy the outputs DVC does not cache (checkout cannot bring them back) aside."""
    saved = []
    shutil.rmtree(BACKUP, ignore_errors=True)
    for i, out in enumerate(stage.outs):
        path = Path(out.fs_path)
        if out.use_cache or out.persist or not path.exists():
            continue
        copy = BACKUP / str(i) / path.name
        copy.parent.mkdir(parents=True, exist_ok=True)
        if path.is_dir():
            shutil.copytree(path, copy)
        else:
            shutil.copy2(path, copy)
        saved.append((copy, path))
    return saved


def _restore(repo, name: str, saved: list[tuple[Path, Path]]) -> None:  # noqa: ANN001
    """Put the outputs of the last successful run of `name` back after a failed run."""
    for copy, path in saved:
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(copy), str(path))
    try:
        repo.checkout(targets=[name], force=True)
    except Exception as exc:  # noqa: BLE001 - the stage's own error matters more; say both
        print(f"WARNING: previous outputs of {name} not restored: {exc}", file=sys.stderr)


def reproduce(name: str, force: bool) -> int:
    """Reproduce one stage in the current directory; returns the process exit code."""
    from dvc.exceptions import DvcException
    from dvc.lock import LockError
    from dvc.repo import Repo

    _record_exit_status()  # (importing dvc set its console logging up: once is enough)
    saved: list[tuple[Path, Path]] = []
    try:
        with Repo() as repo:
            saved = _backup_uncached(repo.stage.collect(name)[0])
            try:
                done = repo.reproduce(name, single_item=True, force=force)
            except DvcException:
                _restore(repo, name, saved)
                raise
    except LockError as exc:
        print(f"ERROR: {error_chain(exc)}", file=sys.stderr)
        return EXIT_TRANSIENT
    except DvcException as exc:
        print(f"ERROR: {error_chain(exc)}", file=sys.stderr)
        return EXIT_TRANSIENT if stage_exit_status(exc) == EXIT_TRANSIENT else 1
    finally:
        shutil.rmtree(BACKUP, ignore_errors=True)
    print(json.dumps({"reproduced": bool(done)}), flush=True)
    return 0


if __name__ == "__main__":
    args = sys.argv[1:]
    sys.exit(reproduce(args[0], "--force" in args[1:]))
