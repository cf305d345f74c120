"""What every `realign` subcommand shares: params loading, overrides, logging, run tracking,
and one-line error reporting."""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from realign_pipeline import stage_env
from realign_pipeline.errors import RealignError
from realign_pipeline.stage_env import EXIT_TRANSIENT

logger = logging.getLogger("realign_pipeline")

ParamsOpt = Annotated[
    Path, typer.Option("--params", "-p", help="Params file (a complete preset).", show_default=True)
]
SetOpt = Annotated[
    list[str] | None,
    typer.Option("--set", "-s", help="Override one value: KEY.SUB=VALUE (repeatable)."),
]
DebugOpt = Annotated[bool, typer.Option("--debug", help="Show tracebacks.")]
# the stage commands' shared options
DataRootOpt = Annotated[Path, typer.Option(help="Root that every image path is under.")]
ManifestOpt = Annotated[Path, typer.Option(help="Train manifest.")]
ValManifestOpt = Annotated[Path, typer.Option(help="Validation manifest.")]
MetricsOpt = Annotated[Path, typer.Option(help="Metrics JSON.")]
ResumeOpt = Annotated[bool, typer.Option(help="Resume from this run's last checkpoint, if any.")]

_DEBUG_ENV = "REALIGN_DEBUG"
_FAST_EXIT_ENV = "REALIGN_FAST_EXIT"


def setup_logging(debug: bool = False) -> None:
    """Configure logging once for the process (the library never adds handlers)."""
    if debug:
        os.environ[_DEBUG_ENV] = "1"
    level = logging.DEBUG if debug else logging.INFO
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
    )
    for noisy in ("httpx", "urllib3", "alembic", "mlflow", "filelock", "PIL"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # warnings (FutureWarning & co.) become one WARNING record each, not bare stderr lines
    logging.captureWarnings(True)


def load(params: Path, overrides: list[str] | None, debug: bool = False) -> Any:
    """Set up logging, then load and validate the params file with `--set` overrides."""
    from realign_pipeline.config import load_params

    setup_logging(debug)
    return load_params(params, overrides or [])


@contextmanager
def stage_run(
    params: Any, stage: str, section: Any, headline: list[Path] | None = None
) -> Iterator[Any]:
    """Open the MLflow run of `stage`, logging its params section and the shared seed; the
    numbers of its `headline` metrics files go on the parent run (a variant's) as well."""
    from realign_pipeline.tracking import start_stage_run

    logged = {stage: section.model_dump(mode="json"), "seed": params.seed}
    variant = params.model_dump(mode="json")
    with start_stage_run(
        params.tracking, stage, params.preset, logged, variant=variant, headline=headline or ()
    ) as tracker:
        yield tracker


def forced() -> bool:
    """True when the runner asks for a forced rerun (`REALIGN_FORCE=1`, the flow's `force`):
    the stage discards its resumable state (shards, checkpoints) and recomputes everything."""
    return os.environ.get(stage_env.FORCE, "").strip() == "1"


def finish(result: Any, tracker: Any | None = None) -> None:
    """Log a stage result's metrics to its run, then hand the result over one way: to
    `$REALIGN_RESULT_FILE` when a runner set it (how it knows the command ran and what it did),
    else as JSON on stdout (stderr for a worker of a multi-process stage)."""
    payload = result.to_dict() if hasattr(result, "to_dict") else result
    if tracker is not None and isinstance(payload, dict):
        numbers = {
            k: v for k, v in payload.get("metrics", {}).items() if isinstance(v, (int, float))
        }
        tracker.log_metrics(numbers)
        tracker.log_dict(payload, "summary.json")  # the whole result, beside the run's metrics
    if target := os.environ.get(stage_env.RESULT_FILE):
        from realign_pipeline.atomic import atomic_write_json

        atomic_write_json(target, payload)
        return
    to_stderr = os.environ.get(stage_env.RESULT_TO_STDERR) == "1"
    typer.echo(json.dumps(payload, indent=2, sort_keys=True, default=str), err=to_stderr)


def progress_hook(min_interval_s: float = 1.0) -> Callable[[int, int], None] | None:
    """A `(done, total)` callback writing progress JSON to `$REALIGN_PROGRESS_FILE`, if set.

    The Prefect task running the stage polls that file to update a progress artifact; without
    the variable (plain CLI or `dvc repro`) there is no hook.
    """
    target = os.environ.get(stage_env.PROGRESS_FILE)
    if not target:
        return None
    import time

    from realign_pipeline.atomic import atomic_write_json

    last = [float("-inf")]

    def report(done: int, total: int) -> None:
        now = time.monotonic()
        if done < total and now - last[0] < min_interval_s:
            return
        last[0] = now
        atomic_write_json(target, {"done": int(done), "total": int(total)})

    return report


def _transient_errors() -> tuple[type[BaseException], ...]:
    """Errors of an unreachable server (connection refused, name resolution, timeouts)."""
    errors: tuple[type[BaseException], ...] = (ConnectionError, TimeoutError)
    if "requests" in sys.modules:  # MLflow's HTTP client; only when already loaded
        from requests.exceptions import ConnectionError as RequestsConnectionError
        from requests.exceptions import Timeout

        errors += (RequestsConnectionError, Timeout)
    return errors


def main_wrapper(app: typer.Typer, argv: list[str] | None) -> int:
    """Run the typer app; print project errors as one line and return exit code 2 (75 for an
    unreachable server, which the pipeline runner retries)."""
    debug = "--debug" in (argv if argv is not None else sys.argv) or os.environ.get(_DEBUG_ENV)
    # stdout carries only the result JSON; MLflow would print "View run ..." links there
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    try:
        code = app(args=argv, standalone_mode=False)  # a command's `typer.Exit(code)` lands here
    except RealignError as exc:
        if debug:
            raise
        typer.echo(f"error: {exc}", err=True)
        return 2
    except _transient_errors() as exc:
        if debug:
            raise
        typer.echo(f"error (transient, worth a retry): {exc}", err=True)
        return EXIT_TRANSIENT
    except typer.Exit as exc:
        return int(exc.exit_code or 0)
    except typer.Abort:
        typer.echo("aborted", err=True)
        return 1
    except Exception as exc:
        # usage errors (bad option, unknown command) come from typer's bundled click: they know
        # how to show themselves and carry their exit code
        code = getattr(exc, "exit_code", None)
        if callable(getattr(exc, "show", None)) and isinstance(code, int):
            exc.show()
            return code
        raise
    return code if isinstance(code, int) else 0


def exit_process(code: int) -> NoReturn:
    """End the process with `code`, skipping the interpreter's teardown of every loaded module.

    A stage process that imported torch, transformers, open_clip and MLflow spends 1-2 s tearing
    them down after its work is saved (measured in docs/profiling.md). Everything a normal exit
    does that matters still happens, in the same order: non-daemon threads are joined (and
    executors told to stop), atexit handlers run (logging flush, multiprocessing cleanup,
    coverage), stdio is flushed; only the module teardown is skipped. `REALIGN_FAST_EXIT=0`
    restores the normal exit.
    """
    if os.environ.get(_FAST_EXIT_ENV, "1").strip().lower() in {"0", "false", "no", "off"}:
        sys.exit(code)
    import atexit
    import threading

    shutdown = getattr(threading, "_shutdown", None)  # what the interpreter itself calls first
    if shutdown is not None:
        shutdown()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # closed or broken pipe: nothing more can be written
            pass
    os._exit(code)


Runner = Callable[..., Any]
