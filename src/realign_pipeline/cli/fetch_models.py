"""`realign fetch-models`: download the hub models a preset names, on purpose, into the cache."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from realign_pipeline.cli.common import DebugOpt, ParamsOpt, SetOpt, finish, load


def register(app: typer.Typer) -> None:
    """Add the fetch-models command to `app`."""

    @app.command("fetch-models")
    def fetch_models(
        dry_run: Annotated[
            bool, typer.Option("--dry-run", help="Only list what would be downloaded.")
        ] = False,
        params: ParamsOpt = Path("params.yaml"),
        set_: SetOpt = None,
        debug: DebugOpt = False,
    ) -> None:
        """List the hub models the params name (size, cached or not) and download the missing
        ones into the cache under HF_HOME. Needs downloads on: HF_HUB_OFFLINE=0
        TRANSFORMERS_OFFLINE=0 (scripts/env.sh turns them off unless REALIGN_DOWNLOADS=1)."""
        cfg = load(params, set_, debug)
        from realign_pipeline.model_fetch import fetch_models as run_fetch
        from realign_pipeline.model_fetch import plan_downloads

        plan = plan_downloads(
            [("grpo.model", cfg.grpo.model), ("caption.model", cfg.caption.model)],
            [("align.pretrained", cfg.align.model_name, cfg.align.pretrained)],
        )
        finish(run_fetch(plan, dry_run=dry_run, params_path=str(params)))
