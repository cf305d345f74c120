"""`realign sample`: reasoning texts from AIGI-R1, or (`--task caption`) base-VLM captions."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from realign_pipeline.cli.common import (
    DebugOpt,
    ParamsOpt,
    SetOpt,
    finish,
    forced,
    load,
    progress_hook,
    setup_logging,
    stage_run,
)

# Defaults per task, matching the DVC layout: (model, output folder, metrics file).
_DEFAULTS = {
    "reasoning": ("artifacts/aigi_r1", Path("artifacts/reasoning"), Path("metrics/sample.json")),
    "caption": (None, Path("artifacts/captions"), Path("metrics/caption.json")),
}


class TaskChoice(StrEnum):
    """What to generate."""

    reasoning = "reasoning"
    caption = "caption"


def register(app: typer.Typer) -> None:
    """Add the sample command to `app`."""

    @app.command("sample")
    def sample(
        task: Annotated[
            TaskChoice,
            typer.Option(
                help="reasoning: AIGI-R1 texts (params `sample`); caption: base-VLM "
                "captions (params `caption`)."
            ),
        ] = TaskChoice.reasoning,
        shard: Annotated[
            str, typer.Option(help="This worker's slice I/N (0-based): batches with index % N == I")
        ] = "0/1",
        manifest: Annotated[Path, typer.Option(help="Manifest of the images.")] = Path(
            "artifacts/manifests/train.parquet"
        ),
        data_root: Annotated[
            Path, typer.Option(help="Root the manifest's paths are relative to.")
        ] = Path("data"),
        model: Annotated[
            str | None,
            typer.Option(
                help="Model folder or hub id [reasoning: artifacts/aigi_r1; caption: "
                "params caption.model]."
            ),
        ] = None,
        out: Annotated[
            Path | None,
            typer.Option(help="Output folder [artifacts/reasoning | artifacts/captions]."),
        ] = None,
        metrics: Annotated[
            Path | None,
            typer.Option(help="Metrics JSON [metrics/sample.json | metrics/caption.json]."),
        ] = None,
        params: ParamsOpt = Path("params.yaml"),
        set_: SetOpt = None,
        debug: DebugOpt = False,
    ) -> None:
        """Generate reasoning texts (or captions) for every manifest image; resumable, shardable."""
        setup_logging(debug)
        cfg = load(params, set_)
        from realign_pipeline.sampling import parse_shard, run_sample

        spec = parse_shard(shard)
        kind = task.value
        section = cfg.sample if kind == "reasoning" else cfg.caption
        default_model, default_out, default_metrics = _DEFAULTS[kind]
        model_name = model or default_model or cfg.caption.model
        stage = "sample" if kind == "reasoning" else "caption"
        with stage_run(cfg, stage, section) as tracker:
            result = run_sample(
                manifest,
                data_root,
                model_name,
                out or default_out,
                metrics or default_metrics,
                section,
                task=kind,
                shard=spec,
                tracker=tracker,
                progress=progress_hook(),
                fresh=forced(),
            )
            finish(result, tracker)
