"""`python tasks/dvc_repro.py STAGE [--force]`: `dvc repro --single-item STAGE` through DVC's API.

The caller learns what happened from the exit code and DVC's own exceptions, never from DVC's
English messages: 0 = done, and the last stdout line is `{"reproduced": true|false}` (false: the
stage was up to date, nothing ran); EXIT_TRANSIENT (75, EX_TEMPFAIL) = DVC's repo lock is held by
another process, or the stage's command itself exited 75 (a server it needs was unreachable):
worth a retry; 1 = any other failure, with DVC's message on stderr.
"""

from __future__ import annotations

import json
import sys

EXIT_TRANSIENT = 75


def _stage_exit_status(exc: BaseException | None) -> int | None:
    """The stage command's exit status behind a ReproductionError, if that is the cause."""
    from dvc.stage.exceptions import StageCmdFailedError

    while exc is not None:
        if isinstance(exc, StageCmdFailedError):
            return getattr(exc, "status", None)
        exc = exc.__cause__
    return None


def reproduce(stage: str, force: bool) -> int:
    """Reproduce one stage in the current directory; returns the process exit code."""
    from dvc.exceptions import DvcException
    from dvc.lock import LockError
    from dvc.logger import setup
    from dvc.repo import Repo

    setup()
    try:
        with Repo() as repo:
            done = repo.reproduce(stage, single_item=True, force=force)
    except LockError as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        return EXIT_TRANSIENT
    except DvcException as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        return EXIT_TRANSIENT if _stage_exit_status(exc) == EXIT_TRANSIENT else 1
    print(json.dumps({"reproduced": bool(done)}), flush=True)
    return 0


if __name__ == "__main__":
    args = sys.argv[1:]
    sys.exit(reproduce(args[0], "--force" in args[1:]))
