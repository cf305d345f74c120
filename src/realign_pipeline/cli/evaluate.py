"""`realign evaluate` and `realign ablate text|training|all`."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Annotated

import typer

from realign_pipeline.cli.common import (
    DataRootOpt,
    DebugOpt,
    ParamsOpt,
    SetOpt,
    finish,
    load,
    progress_hook,
    stage_run,
)


def register(app: typer.Typer) -> None:
    """Add the evaluate and ablate commands to `app`."""

    @app.command("evaluate")
    def evaluate(
        *,
        detector: Annotated[Path, typer.Option(help="Exported detector folder.")],
        manifests: Annotated[Path, typer.Option(help="Manifest folder with bench-<name>.parquet.")],
        data_root: DataRootOpt,
        out: Annotated[Path, typer.Option(help="Output folder (predictions, plots, report).")],
        metrics: Annotated[
            Path, typer.Option(help="Headline metrics JSON for DVC (mAcc, mAP, ... per benchmark).")
        ],
        robustness: Annotated[
            Path, typer.Option(help="Metrics JSON for DVC: mAcc per benchmark and perturbation.")
        ],
        params: ParamsOpt = Path("params.yaml"),
        set_: SetOpt = None,
        debug: DebugOpt = False,
    ) -> None:
        """Score the detector on every benchmark and perturbation; write metrics and report."""
        cfg = load(params, set_, debug)
        from realign_pipeline.evaluate import run_evaluate

        with stage_run(cfg, "evaluate", cfg.evaluate, [metrics, robustness]) as tracker:
            result = run_evaluate(
                detector,
                manifests,
                data_root,
                out,
                metrics,
                cfg.evaluate,
                robustness_path=robustness,
                tracker=tracker,
                progress=progress_hook(),
            )
            finish(result, tracker)

    @app.command("ablate")
    def ablate(
        table: Annotated[str, typer.Argument(help="Ablation table: text, training or all.")],
        out: Annotated[Path, typer.Option(help="Folder of the comparison tables.")] = Path(
            "artifacts/ablations"
        ),
        metrics_file: Annotated[
            list[str] | None,
            typer.Option(
                help="The evaluate stage's metrics files, relative to the repo "
                "[metrics/eval.json, metrics/robustness.json]."
            ),
        ] = None,
        repo: Annotated[Path, typer.Option(help="Root of the git + DVC repository.")] = Path("."),
        params: ParamsOpt = Path("params.yaml"),
        set_: SetOpt = None,
        debug: DebugOpt = False,
    ) -> None:
        """Run the paper's ablation TABLE as DVC experiments and print the comparison."""
        cfg = load(params, set_, debug)
        from realign_pipeline.cli.ablate import run_ablation
        from realign_pipeline.evaluate.ablate import (
            build_comparison,
            comparison_header,
            plan_ablation,
            render_comparison,
            shows_paper_numbers,
            write_comparison,
        )

        variants = plan_ablation(table, cfg.ablate)
        if not shows_paper_numbers(cfg.preset, cfg.evaluate.benchmarks):
            logging.getLogger(__name__).warning(
                "preset %s is not the paper's ablation protocol (presets/paper-holmes.yaml on "
                "ultrasynth): the comparison shows our numbers only",
                cfg.preset,
            )
        # DVC keys params by their path relative to the repository root (params.yaml)
        params_file = Path(os.path.relpath(params.resolve(), repo.resolve())).as_posix()
        outcome = run_ablation(
            variants,
            cfg,
            repo=repo,
            params_file=params_file,
            metrics_file=metrics_file or ["metrics/eval.json", "metrics/robustness.json"],
        )
        comparison = build_comparison(
            variants,
            outcome.metrics,
            benchmarks=cfg.evaluate.benchmarks,
            condition=cfg.ablate.perturbation,
            preset=cfg.preset,
        )
        header = comparison_header(cfg.preset, cfg.evaluate.benchmarks, cfg.ablate.perturbation)
        csv_path, md_path = write_comparison(comparison, out, table, header)
        typer.echo(render_comparison(comparison, header), err=True)
        finish(
            {
                "stage": "ablate",
                "outputs": {"csv": str(csv_path), "markdown": str(md_path)},
                "counts": {
                    "ran": len(outcome.ran),
                    "skipped": len(outcome.skipped),
                    "failed": len(outcome.failed),
                },
                "experiments": outcome.names,
                "failed": outcome.failed,
            }
        )
        if outcome.failed:
            raise typer.Exit(1)
