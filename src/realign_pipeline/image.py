"""The container image a dispatched stage runs: deploy/Dockerfile built from one commit.

A stage sent to a Kubernetes pool must run exactly the parent's code, so the image is tagged with
the full commit id (`<pipeline.image>:<commit>`), built from a clean checkout and never re-tagged;
the parent flow sets that reference as the job's image. `realign image tag|build|push` run here.
"""

from __future__ import annotations

import logging
import re
import subprocess
from pathlib import Path

from realign_pipeline.errors import ConfigError, RealignError

logger = logging.getLogger(__name__)

DOCKERFILE = "deploy/Dockerfile"
# a repository path as Docker names it: [host[:port]/]path, lowercase, no tag or digest
_REPOSITORY = re.compile(
    r"(?:[a-zA-Z0-9.-]+(?::[0-9]+)?/)?[a-z0-9]+(?:[._-]+[a-z0-9]+)*(?:/[a-z0-9]+(?:[._-]+[a-z0-9]+)*)*"
)
_PLACEHOLDER_HOSTS = ("example.com", "example.org", "example.net", "example.invalid", "localhost")


class ImageError(RealignError):
    """The image cannot be tagged, built or pushed as asked; the message says what to do."""


def check_repository(name: str) -> str:
    """`name` if it can hold the stages' images (`registry/path/realign-pipeline`), else raise.

    Refused: a tag or digest (the tag is the commit, set per stage), a placeholder host
    (example.com, localhost) and anything Docker would not accept as a repository.

    Raises:
        ConfigError: naming pipeline.image, the value and the fix.
    """
    fix = (
        "set pipeline.image to your registry's repository without a tag, e.g. "
        "registry.internal:5000/ml/realign-pipeline (the tag is the commit: realign image push)"
    )
    last = name.rsplit("/", 1)[-1]
    if ":" in last or "@" in name:
        raise ConfigError(f"pipeline.image {name!r} has a tag or digest: {fix}")
    if not _REPOSITORY.fullmatch(name):
        raise ConfigError(f"pipeline.image {name!r} is not an image repository name: {fix}")
    host = name.split("/", 1)[0].split(":", 1)[0] if "/" in name else ""
    if host.endswith(_PLACEHOLDER_HOSTS) or "/" not in name:
        raise ConfigError(
            f"pipeline.image {name!r} is a placeholder or a local name no cluster node can "
            f"pull: {fix}"
        )
    return name


def image_tag(repo: Path, allow_dirty: bool = False) -> str:
    """The tag of this checkout's image: its full commit id (`-dirty` only if allowed).

    Raises:
        ImageError: not a git checkout, or tracked files changed and `allow_dirty` is False.
    """
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, check=False
    )
    if head.returncode != 0:
        raise ImageError(f"{repo} is not a git checkout with a commit: the image tag is the commit")
    changed = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\n")
    changed = [line[3:] for line in changed if line.strip()]
    if changed and not allow_dirty:
        shown = ", ".join(changed[:5]) + (" ..." if len(changed) > 5 else "")
        raise ImageError(
            f"uncommitted changes in {repo} ({shown}): the image must hold exactly its commit; "
            "commit them (git commit), or pass --allow-dirty for an image no stage will use"
        )
    return head.stdout.strip() + ("-dirty" if changed else "")


def image_ref(repository: str, tag: str) -> str:
    """`repository:tag`, the repository checked as pipeline.image."""
    return f"{check_repository(repository)}:{tag}"


def build_command(ref: str, tool: str = "docker") -> list[str]:
    """The command that builds deploy/Dockerfile from the repository root as `ref`."""
    return [tool, "build", "-f", DOCKERFILE, "-t", ref, "."]


def push_command(ref: str, tool: str = "docker") -> list[str]:
    """The command that pushes `ref` to its registry."""
    return [tool, "push", ref]


def run_tool(command: list[str], repo: Path) -> None:
    """Run a build or push command in `repo` (its output goes to this process's terminal).

    Raises:
        ImageError: the tool is not installed, or it failed.
    """
    logger.info("running %s", " ".join(command))
    try:
        proc = subprocess.run(command, cwd=repo, check=False)
    except FileNotFoundError:
        raise ImageError(
            f"{command[0]} not found: install it, or pass --tool with a Docker-compatible CLI "
            "(podman, nerdctl)"
        ) from None
    if proc.returncode != 0:
        raise ImageError(f"`{' '.join(command)}` failed with exit code {proc.returncode}")
