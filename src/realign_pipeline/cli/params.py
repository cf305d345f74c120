"""`realign params render`: a complete params file from a preset overlay and `--set` overrides."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from realign_pipeline.cli.common import DebugOpt, SetOpt, setup_logging


def register(app: typer.Typer) -> None:
    """Add the `params` sub-app (render) to `app`."""
    params = typer.Typer(name="params", help="Presets: render one as a complete params file.")
    app.add_typer(params, name="params")

    @params.command("render")
    def render(
        preset: Annotated[str, typer.Option("--preset", help="Name of a presets/*.yaml file.")],
        set_: SetOpt = None,
        output: Annotated[
            Path | None, typer.Option("--output", "-o", help="Write here (default: stdout).")
        ] = None,
        repo: Annotated[Path, typer.Option("--repo", help="Folder holding presets/.")] = Path("."),
        debug: DebugOpt = False,
    ) -> None:
        """Merge presets/<preset>.yaml over the base it extends, apply --set overrides, validate,
        and print the complete params file (comments kept), or write it to --output."""
        setup_logging(debug)
        from realign_pipeline.atomic import atomic_write_text
        from realign_pipeline.config.presets import render_params

        text = render_params(repo, preset, set_ or [])
        if output is None:
            typer.echo(text, nl=False)
        else:
            atomic_write_text(output, text)
