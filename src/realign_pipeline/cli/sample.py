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
from realign_pipeline.errors import ConfigError


class TaskChoice(StrEnum):
    """What to generate."""

    reasoning = "reasoning"
    caption = "caption"


def register(app: typer.Typer) -> None:
    """Add the sample command to `app`."""

    @app.command("sample")
    def sample(
        *,
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
        manifest: Annotated[Path, typer.Option(help="Manifest of the images.")],
        data_root: Annotated[Path, typer.Option(help="Root the manifest's paths are relative to.")],
        model: Annotated[
            str | None,
            typer.Option(
                help="Model folder or hub id; required for reasoning (the GRPO model), "
                "default for caption: params caption.model."
            ),
        ] = None,
        out: Annotated[Path, typer.Option(help="Output folder.")],
        metrics: Annotated[Path, typer.Option(help="Metrics JSON.")],
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
        if model is None and kind == "reasoning":
            raise ConfigError("realign sample --task reasoning needs --model (the GRPO model)")
        model_name = model or cfg.caption.model
        stage = "sample" if kind == "reasoning" else "caption"
        with stage_run(cfg, stage, section) as tracker:
            result = run_sample(
                manifest,
                data_root,
                model_name,
                out,
                metrics,
                section,
                task=kind,
                shard=spec,
                tracker=tracker,
                progress=progress_hook(),
                fresh=forced(),
            )
            finish(result, tracker)
