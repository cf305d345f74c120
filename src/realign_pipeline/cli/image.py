"""`realign image tag|build|push`: the image dispatched stages run, tagged with the commit."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from realign_pipeline.cli.common import DebugOpt, ParamsOpt, SetOpt, load

ToolOpt = Annotated[
    str, typer.Option("--tool", help="Docker-compatible CLI that builds and pushes (podman, ...).")
]
DirtyOpt = Annotated[
    bool,
    typer.Option("--allow-dirty", help="Tag uncommitted changes `<commit>-dirty` (never run)."),
]


def register(app: typer.Typer) -> None:
    """Add the `image` sub-app (tag, build, push) to `app`."""
    image = typer.Typer(
        name="image", help="The stages' image: deploy/Dockerfile at this commit (pipeline.image)."
    )
    app.add_typer(image, name="image")

    def _ref(params: Path, set_: list[str] | None, allow_dirty: bool, debug: bool) -> str:
        from realign_pipeline.errors import ConfigError
        from realign_pipeline.image import image_ref, image_tag

        repository = load(params, set_, debug).pipeline.image
        if not repository:
            raise ConfigError(
                "pipeline.image is empty: set it to your registry's repository, e.g. "
                "--set pipeline.image=registry.internal:5000/ml/realign-pipeline"
            )
        return image_ref(repository, image_tag(Path("."), allow_dirty))

    @image.command("tag")
    def tag(
        params: ParamsOpt = Path("params.yaml"),
        set_: SetOpt = None,
        allow_dirty: DirtyOpt = False,
        debug: DebugOpt = False,
    ) -> None:
        """Print the image this commit's stages run: <pipeline.image>:<commit>."""
        typer.echo(_ref(params, set_, allow_dirty, debug))

    @image.command("build")
    def build(
        params: ParamsOpt = Path("params.yaml"),
        set_: SetOpt = None,
        tool: ToolOpt = "docker",
        allow_dirty: DirtyOpt = False,
        debug: DebugOpt = False,
    ) -> None:
        """Build deploy/Dockerfile here as <pipeline.image>:<commit>; print the reference."""
        from realign_pipeline.image import build_command, run_tool

        ref = _ref(params, set_, allow_dirty, debug)
        run_tool(build_command(ref, tool), Path("."))
        typer.echo(ref)

    @image.command("push")
    def push(
        params: ParamsOpt = Path("params.yaml"),
        set_: SetOpt = None,
        tool: ToolOpt = "docker",
        debug: DebugOpt = False,
    ) -> None:
        """Build and push <pipeline.image>:<commit> (a clean checkout only); print it."""
        from realign_pipeline.image import build_command, push_command, run_tool

        ref = _ref(params, set_, allow_dirty=False, debug=debug)
        run_tool(build_command(ref, tool), Path("."))
        run_tool(push_command(ref, tool), Path("."))
        typer.echo(ref)
