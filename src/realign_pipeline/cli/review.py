"""`realign review export|import|check`: the expert review queue and the alignment pairs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from realign_pipeline.cli.common import (
    DataRootOpt,
    DebugOpt,
    ManifestOpt,
    MetricsOpt,
    ParamsOpt,
    SetOpt,
    finish,
    load,
    stage_run,
)

QueueOpt = Annotated[Path, typer.Option("--queue", help="Review queue folder (export's output).")]
ExportOpt = Annotated[
    Path | None,
    typer.Option(
        "--export",
        help="Experts' export (Label Studio JSON / JSON-MIN, or queue.csv/queue.jsonl); "
        "default: review.export_path.",
    ),
]


def register(app: typer.Typer) -> None:
    """Add the `review` sub-app (export, import, check) to `app`."""
    review = typer.Typer(
        name="review", help="Expert review queue (Label Studio) and the alignment pairs."
    )
    app.add_typer(review, name="review")

    @review.command("export")
    def export(
        *,
        samples: Annotated[Path, typer.Option(help="Sample stage output.")],
        manifest: ManifestOpt,
        data_root: DataRootOpt,
        out: Annotated[Path, typer.Option(help="Queue folder (replaced).")],
        params: ParamsOpt = Path("params.yaml"),
        set_: SetOpt = None,
        debug: DebugOpt = False,
    ) -> None:
        """Apply the pre-review policy and write the Label Studio queue."""
        cfg = load(params, set_, debug)
        from realign_pipeline.review import run_review_export

        with stage_run(cfg, "review_export", cfg.review) as tracker:
            result = run_review_export(
                samples, manifest, data_root, out, cfg.review, tracker=tracker
            )
            finish(result, tracker)

    @review.command("import")
    def import_(
        *,
        queue: QueueOpt,
        data_root: DataRootOpt,
        export: ExportOpt = None,
        captions: Annotated[
            Path | None,
            typer.Option(help="Caption stage output (optional; absent -> null variants)."),
        ] = None,
        pairs: Annotated[Path, typer.Option(help="Pairs table to write.")],
        report: Annotated[Path, typer.Option(help="Import report to write.")],
        metrics: MetricsOpt,
        params: ParamsOpt = Path("params.yaml"),
        set_: SetOpt = None,
        debug: DebugOpt = False,
    ) -> None:
        """Import the experts' work (or apply the auto policy) and write the pairs."""
        cfg = load(params, set_, debug)
        from realign_pipeline.review import run_review_import

        with stage_run(cfg, "review_import", cfg.review) as tracker:
            result = run_review_import(
                queue,
                data_root,
                pairs,
                report,
                metrics,
                cfg.review,
                export_path=export,
                captions_path=captions,
                tracker=tracker,
            )
            finish(result, tracker)

    @review.command("check")
    def check(
        export: Annotated[Path, typer.Argument(help="Experts' export to validate.")],
        queue: QueueOpt = Path("artifacts/review/queue"),
        data_root: Annotated[
            Path | None,
            typer.Option(
                "--data-root", help="Image root; default: the one the queue was exported from."
            ),
        ] = None,
        params: ParamsOpt = Path("params.yaml"),
        set_: SetOpt = None,
        debug: DebugOpt = False,
    ) -> None:
        """Validate an experts' export against the queue (writes nothing) and print its counts."""
        cfg = load(params, set_, debug)
        from realign_pipeline.review import check_export

        finish(check_export(export, queue, data_root, cfg.review))
