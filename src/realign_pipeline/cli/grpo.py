"""`realign grpo` (AIGI-R1)."""

from __future__ import annotations

import os
import sys
from contextlib import redirect_stdout
from pathlib import Path
from typing import Annotated

import typer

from realign_pipeline.cli.common import (
    DataRootOpt,
    DebugOpt,
    ManifestOpt,
    MetricsOpt,
    ParamsOpt,
    ResumeOpt,
    SetOpt,
    ValManifestOpt,
    finish,
    forced,
    load,
    progress_hook,
    stage_run,
)


def register(app: typer.Typer) -> None:
    """Add the grpo command to `app`."""

    @app.command("grpo")
    def grpo(
        *,
        manifest: ManifestOpt,
        val_manifest: ValManifestOpt,
        data_root: DataRootOpt,
        model: Annotated[
            str | None, typer.Option(help="Hub id or model folder; default: grpo.model.")
        ] = None,
        out: Annotated[Path, typer.Option(help="Trained model folder.")],
        metrics: MetricsOpt,
        checkpoints: Annotated[
            Path, typer.Option(help="Checkpoint root (one sub-folder per settings fingerprint).")
        ],
        resume: ResumeOpt = True,
        params: ParamsOpt = Path("params.yaml"),
        set_: SetOpt = None,
        debug: DebugOpt = False,
    ) -> None:
        """Train AIGI-R1 with GRPO (TRL) and save the model, metrics and checkpoints."""
        cfg = load(params, set_, debug)
        from realign_pipeline.grpo import run_grpo
        from realign_pipeline.launch import (
            accelerate_command,
            is_launched_process,
            resolve_num_processes,
            run_command,
        )

        launcher = cfg.grpo.launcher
        num_processes = resolve_num_processes(launcher.num_processes)
        if (num_processes > 1 or launcher.config) and not is_launched_process():
            # Re-execute this very command on every rank: the same path under a shell, `dvc
            # repro`, the Prefect task and a Kubernetes job. The main rank prints the result.
            argv = [
                "grpo", "--manifest", str(manifest), "--val-manifest", str(val_manifest),
                "--data-root", str(data_root), "--out", str(out), "--metrics", str(metrics),
                "--checkpoints", str(checkpoints), "--resume" if resume else "--no-resume",
                "--params", str(params), *(["--model", model] if model else []),
                *[arg for item in set_ or [] for arg in ("--set", item)],
                *(["--debug"] if debug else []),
            ]  # fmt: skip
            cmd = accelerate_command(
                argv,
                num_processes=num_processes,
                config_file=launcher.config,
                config_key="grpo.launcher.config",
            )
            raise typer.Exit(run_command(cmd))
        kwargs = {"seed": cfg.seed, "model": model, "resume": resume and not forced()}
        paths = (manifest, val_manifest, data_root, out, metrics, checkpoints, cfg.grpo)
        if int(os.environ.get("RANK", "0")) != 0:
            # A non-main process of `accelerate launch`: trains its share; the main process
            # alone owns the MLflow run, the outputs and the result on stdout.
            with redirect_stdout(sys.stderr):
                run_grpo(*paths, **kwargs)
            return
        with stage_run(cfg, "grpo", cfg.grpo, headline=[metrics]) as tracker:
            # transformers' trainer prints its log dicts on stdout: keep stdout for the result.
            with redirect_stdout(sys.stderr):
                result = run_grpo(*paths, **kwargs, tracker=tracker, progress=progress_hook())
            finish(result, tracker)
