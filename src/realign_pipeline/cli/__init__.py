"""The `realign` command: one subcommand per stage (what dvc.yaml runs).

Each stage's commands live in a module of this package named after the stage and are added by
its `register(app)`. Commands only parse arguments, load the typed params, open the stage's MLflow
run and call one library function; heavy libraries are imported inside the command so that
`realign --help` stays fast.
"""

from __future__ import annotations

from typing import NoReturn

import typer

from realign_pipeline.cli import (
    align,
    data,
    evaluate,
    fetch_models,
    grpo,
    image,
    params,
    review,
    sample,
    tiny_models,
)
from realign_pipeline.cli.common import exit_process, main_wrapper

app = typer.Typer(
    name="realign",
    help="ReAlign pipeline: ingest, AIGI-R1 GRPO, sampling, review, alignment, evaluation.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

for _module in (
    data,
    params,
    tiny_models,
    fetch_models,
    image,
    grpo,
    sample,
    review,
    align,
    evaluate,
):
    _module.register(app)


def main(argv: list[str] | None = None) -> int:
    """Run one command in this process; returns the exit code (2 for project errors)."""
    return main_wrapper(app, argv)


def run() -> NoReturn:
    """Console-script entry point: `main` on `sys.argv`, then a fast process exit."""
    exit_process(main())
