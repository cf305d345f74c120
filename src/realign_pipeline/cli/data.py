"""`realign demo-data`, `realign ingest` and `realign data inspect`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from realign_pipeline.cli.common import (
    DataRootOpt,
    DebugOpt,
    MetricsOpt,
    ParamsOpt,
    SetOpt,
    finish,
    load,
    stage_run,
)


def register(app: typer.Typer) -> None:
    """Add the data commands to `app`."""
    data_app = typer.Typer(help="Look at the data before any stage runs.", no_args_is_help=True)
    app.add_typer(data_app, name="data")

    @data_app.command("inspect")
    def inspect(
        params: ParamsOpt = Path("params.yaml"),
        data_root: DataRootOpt = Path("data"),
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
        set_: SetOpt = None,
        debug: DebugOpt = False,
    ) -> None:
        """Print what ingest would see in every source and benchmark, writing nothing; exit 2
        when ingest would refuse the data."""
        cfg = load(params, set_, debug)
        from realign_pipeline.data.inspect import inspect_data
        from realign_pipeline.errors import InputError

        report = inspect_data(data_root, cfg.ingest)
        text = json.dumps(report.to_dict(), indent=2) if as_json else report.render()
        typer.echo(text.rstrip("\n"))
        if report.refusals:
            more = f" (and {len(report.refusals) - 1} more above)" if report.refusals[1:] else ""
            raise InputError(f"ingest would refuse this data: {report.refusals[0].message}{more}")

    @app.command("demo-data")
    def demo_data(
        out: Annotated[Path, typer.Option(help="Folder to (re)build.")] = Path("data"),
        params: ParamsOpt = Path("params.yaml"),
        set_: SetOpt = None,
        debug: DebugOpt = False,
    ) -> None:
        """Build the seeded demo data set (stand-in real and fake images) under OUT."""
        cfg = load(params, set_, debug)
        from realign_pipeline.data import build_demo_data

        finish(build_demo_data(out, cfg.demo_data, seed=cfg.seed))

    @app.command("ingest")
    def ingest(
        *,
        data_root: DataRootOpt,
        out: Annotated[Path, typer.Option(help="Manifest folder.")],
        metrics: MetricsOpt,
        params: ParamsOpt = Path("params.yaml"),
        set_: SetOpt = None,
        debug: DebugOpt = False,
    ) -> None:
        """Validate every image once and write parquet manifests plus the rejected table."""
        cfg = load(params, set_, debug)
        from realign_pipeline.data import run_ingest

        with stage_run(cfg, "ingest", cfg.ingest) as tracker:
            result = run_ingest(data_root, out, metrics, cfg.ingest, seed=cfg.seed, tracker=tracker)
            finish(result, tracker)
