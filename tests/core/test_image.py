"""The stages' image: named by pipeline.image, tagged with the commit, built from a clean tree."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from realign_pipeline.cli import main
from realign_pipeline.errors import ConfigError
from realign_pipeline.image import ImageError, build_command, check_repository, image_tag


@pytest.mark.parametrize(
    ("name", "refused"),
    [
        ("registry.internal:5000/ml/realign-pipeline", None),  # host with port, path
        ("team/realign-pipeline", None),  # a Docker Hub user's repository
        ("realign-pipeline:latest", "tag or digest"),  # a moving tag: nodes keep stale images
        ("registry.internal/ml/realign-pipeline:v1", "tag or digest"),  # the tag is the commit
        ("registry.internal/ml/realign@sha256:" + "0" * 64, "tag or digest"),
        ("realign-pipeline", "placeholder or a local name"),  # no registry: nothing to pull
        ("registry.example.com/ml/realign-pipeline", "placeholder"),  # the docs' example host
        ("localhost:5000/realign-pipeline", "placeholder"),  # only this machine has it
        ("<your-registry>/realign-pipeline", "not an image repository"),
        ("Registry.internal/ML/Realign", "not an image repository"),  # paths are lowercase
    ],
)
def test_check_repository(name: str, refused: str | None) -> None:
    if refused is None:
        assert check_repository(name) == name
    else:
        with pytest.raises(ConfigError, match=refused):
            check_repository(name)


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=repo, check=True, capture_output=True, text=True
    ).stdout.strip()


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    (repo / "params.yaml").write_text(Path("params.yaml").read_text())
    _git(repo, "add", "-A")
    _git(repo, "-c", "user.email=ci@example.invalid", "-c", "user.name=ci", "commit", "-qm", "x")
    return repo


def test_the_tag_is_the_commit_and_a_dirty_tree_is_refused(checkout: Path) -> None:
    head = _git(checkout, "rev-parse", "HEAD")
    assert image_tag(checkout) == head
    (checkout / "params.yaml").write_text("edited\n")
    with pytest.raises(ImageError, match=r"uncommitted changes .*params.yaml.*git commit"):
        image_tag(checkout)
    assert image_tag(checkout, allow_dirty=True) == f"{head}-dirty"
    assert build_command(f"r/x:{head}", "podman") == [
        "podman", "build", "-f", "deploy/Dockerfile", "-t", f"r/x:{head}", ".",
    ]  # fmt: skip


def test_cli_prints_the_tag_and_says_what_is_missing(checkout: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(checkout)
    head = _git(checkout, "rev-parse", "HEAD")
    repository = "registry.internal:5000/ml/realign-pipeline"
    assert main(["image", "tag", "--set", f"pipeline.image={repository}"]) == 0
    assert capsys.readouterr().out.strip() == f"{repository}:{head}"
    assert main(["image", "tag"]) == 2  # pipeline.image empty
    assert "pipeline.image is empty" in capsys.readouterr().err
    code = main(
        ["image", "build", "--tool", "no-such-docker", "--set", f"pipeline.image={repository}"]
    )
    assert code == 2
    assert "no-such-docker not found" in capsys.readouterr().err
