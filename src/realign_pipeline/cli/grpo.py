"""`realign tiny-models` and `realign grpo` (AIGI-R1)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from realign_pipeline.cli.common import DebugOpt, ParamsOpt, SetOpt, finish, load, setup_logging


def register(app: typer.Typer) -> None:
    """Add the grpo commands to `app`."""

    @app.command("tiny-models")
    def tiny_models(
        out: Annotated[Path, typer.Option(help="Model folder to (re)build.")] = Path(
            "artifacts/tiny_models/vlm"
        ),
        params: ParamsOpt = Path("params.yaml"),
        set_: SetOpt = None,
        debug: DebugOpt = False,
    ) -> None:
        """Build the tiny Qwen2.5-VL offline (random weights) and save it like a hub snapshot."""
        setup_logging(debug)
        cfg = load(params, set_)
        from realign_pipeline.models import build_tiny_vlm
        from realign_pipeline.results import StageResult

        path = build_tiny_vlm(out, cfg.tiny_models, seed=cfg.seed)
        finish(StageResult(stage="tiny_models", outputs={"model": str(path)}))
