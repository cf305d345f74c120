"""`realign sample`: reasoning texts from AIGI-R1, or (`--task caption`) base-VLM captions."""

from __future__ import annotations

from enum import StrEnum
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
    forced,
    load,
    progress_hook,
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
        data_root: DataRootOpt,
        model: Annotated[
            str | None,
            typer.Option(
                help="Model folder or hub id; required for reasoning (the GRPO model), "
                "default for caption: params caption.model."
            ),
        ] = None,
        out: Annotated[Path, typer.Option(help="Output folder.")],
        metrics: MetricsOpt,
        params: ParamsOpt = Path("params.yaml"),
        set_: SetOpt = None,
        debug: DebugOpt = False,
    ) -> None:
        """Generate reasoning texts (or captions) for every manifest image; resumable, shardable.

        With `<section>.num_workers` > 1 (or `auto` on a multi-GPU machine) and no explicit
        `--shard`, it runs one worker per slice (`--shard i/N`, each on its own GPU), then merges.
        """
        cfg = load(params, set_, debug)
        from realign_pipeline.sampling import parse_shard, run_sample
        from realign_pipeline.sampling.store import ShardStore
        from realign_pipeline.sampling.workers import plan_workers, run_workers

        spec = parse_shard(shard)
        kind = task.value
        section = cfg.sample if kind == "reasoning" else cfg.caption
        if model is None and kind == "reasoning":
            raise ConfigError("realign sample --task reasoning needs --model (the GRPO model)")
        model_name = model or cfg.caption.model
        stage = "sample" if kind == "reasoning" else "caption"
        plan = plan_workers(section, stage) if spec.count == 1 else None
        with stage_run(cfg, stage, section) as tracker:
            workers = plan is not None and plan.count > 1
            if workers:
                if forced():  # discard once, here: the workers and the merge then start clean
                    ShardStore(out, spec).discard_all()
                worker_args = [
                    "sample", "--task", kind, "--manifest", str(manifest),
                    "--data-root", str(data_root), "--model", model_name, "--out", str(out),
                    "--metrics", str(metrics), "--params", str(params),
                    *[arg for override in set_ or [] for arg in ("--set", override)],
                ]  # fmt: skip
                run_workers(worker_args, plan, parent_run_id=getattr(tracker, "run_id", None))
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
                fresh=forced() and not workers,
            )
            finish(result, tracker)
