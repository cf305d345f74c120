"""`realign align` (train ReAlign, export the detector) and `realign detect` (score images)."""

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
    ResumeOpt,
    SetOpt,
    ValManifestOpt,
    finish,
    forced,
    load,
    setup_logging,
    stage_run,
)


def register(app: typer.Typer) -> None:
    """Add the align commands to `app`."""

    @app.command("align")
    def align(
        *,
        pairs: Annotated[Path, typer.Option(help="Reviewed pairs table.")],
        val_manifest: ValManifestOpt,
        data_root: DataRootOpt,
        out: Annotated[Path, typer.Option(help="Detector folder.")],
        report_dir: Annotated[
            Path,
            typer.Option("--report-dir", "--plots", help="loss.csv, val.csv, rejected.parquet."),
        ],
        ckpt_dir: Annotated[Path, typer.Option(help="Checkpoints and text-embedding cache.")],
        metrics: MetricsOpt,
        resume: ResumeOpt = True,
        params: ParamsOpt = Path("params.yaml"),
        set_: SetOpt = None,
        debug: DebugOpt = False,
    ) -> None:
        """Align CLIP with the reasoning text (frozen text tower, LoRA image tower, MLP head)
        and export the merged detector (image tower + head, safetensors)."""
        cfg = load(params, set_, debug)
        from realign_pipeline.align import run_align

        with stage_run(cfg, "align", cfg.align, headline=[metrics]) as tracker:
            result = run_align(
                pairs,
                data_root,
                out,
                cfg.align,
                seed=cfg.seed,
                val_manifest=val_manifest,
                ckpt_dir=ckpt_dir,
                report_dir=report_dir,
                metrics_path=metrics,
                tracker=tracker,
                resume=resume and not forced(),
            )
            finish(result, tracker)

    @app.command("detect")
    def detect(
        inputs: Annotated[list[Path], typer.Argument(help="Image files or folders (recursive).")],
        detector: Annotated[Path, typer.Option(help="Detector folder.")] = Path(
            "artifacts/detector"
        ),
        batch_size: Annotated[int, typer.Option(min=1, help="Images per forward pass.")] = 32,
        device: Annotated[str, typer.Option(help="cpu, cuda or cuda:N.")] = "cpu",
        debug: DebugOpt = False,
    ) -> None:
        """Score images: one JSON line per image (path, p_fake, label), or (path, error)."""
        setup_logging(debug)
        from realign_pipeline.detector import detect_paths, load_detector

        model = load_detector(detector, device=device)
        for record in detect_paths(model, inputs, batch_size=batch_size):
            typer.echo(json.dumps(record, sort_keys=True))
