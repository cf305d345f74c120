"""`realign tiny-models`: the tiny_models stage."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from realign_pipeline.cli.common import DebugOpt, ParamsOpt, SetOpt, finish, load


def register(app: typer.Typer) -> None:
    """Add the tiny-models command to `app`."""

    @app.command("tiny-models")
    def tiny_models(
        out: Annotated[Path, typer.Option(help="Stage folder to (re)build.")],
        params: ParamsOpt = Path("params.yaml"),
        set_: SetOpt = None,
        debug: DebugOpt = False,
    ) -> None:
        """Build the tiny Qwen2.5-VL offline into OUT/vlm when grpo.model or caption.model names
        it (the tiny preset); otherwise write only OUT/tiny_models.json (hub models)."""
        cfg = load(params, set_, debug)
        from realign_pipeline.tiny_models import run_tiny_models

        consumers = {"grpo.model": cfg.grpo.model, "caption.model": cfg.caption.model}
        finish(run_tiny_models(out, cfg.tiny_models, consumers=consumers, seed=cfg.seed))
