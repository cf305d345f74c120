"""`realign demo-data` and `realign ingest`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from realign_pipeline.cli.common import (
    DebugOpt,
    ParamsOpt,
    SetOpt,
    finish,
    load,
    setup_logging,
    stage_run,
)


def register(app: typer.Typer) -> None:
    """Add the data commands to `app`."""

    @app.command("demo-data")
    def demo_data(
        out: Annotated[Path, typer.Option(help="Folder to (re)build.")] = Path("data"),
        params: ParamsOpt = Path("params.yaml"),
        set_: SetOpt = None,
        debug: DebugOpt = False,
    ) -> None:
        """Build the seeded demo data set (stand-in real and fake images) under OUT."""
        setup_logging(debug)
        cfg = load(params, set_)
        from realign_pipeline.data import build_demo_data

        finish(build_demo_data(out, cfg.demo_data, seed=cfg.seed))

    @app.command("ingest")
    def ingest(
        *,
        data_root: Annotated[Path, typer.Option(help="Root that every source path is under.")],
        out: Annotated[Path, typer.Option(help="Manifest folder.")],
        metrics: Annotated[Path, typer.Option(help="Counts JSON.")],
        params: ParamsOpt = Path("params.yaml"),
        set_: SetOpt = None,
        debug: DebugOpt = False,
    ) -> None:
        """Validate every image once and write parquet manifests plus the rejected table."""
        setup_logging(debug)
        cfg = load(params, set_)
        from realign_pipeline.data import run_ingest

        with stage_run(cfg, "ingest", cfg.ingest) as tracker:
            result = run_ingest(data_root, out, metrics, cfg.ingest, seed=cfg.seed, tracker=tracker)
            finish(result, tracker)
