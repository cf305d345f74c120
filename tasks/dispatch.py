"""A DVC stage on another machine: what travels with it and what comes back (no Prefect here).

The parent checks that its workspace is committed but for the files that pin versions, pushes the
stage's inputs to the DVC remote, and sends a `WorkspaceState`: its git commit and the text of
params.yaml, dvc.lock and any changed `.dvc` file. The stage's machine checks out that commit,
writes those files, pulls exactly the stage's inputs, runs the stage and pushes its outputs; it
sends back a `StageReturn`: the stage's dvc.lock entry and the text of its uncached outputs (the
metrics files, which the remote does not hold). The parent writes both and pulls the outputs, so
its `dvc status` is clean afterwards.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import yaml

from tasks.dvc_runner import stage_deps, stage_spec

STATE_FILES = ("params.yaml", "dvc.lock")
REMOTE_NAME = "override"  # the `.dvc/config.local` remote that pipeline.dvc_remote sets
MAX_RETURNED_BYTES = 1_000_000  # an uncached output travels as text; big ones belong in the cache


class DispatchError(RuntimeError):
    """The stage cannot run on another machine as things are; the message says what to do."""


@dataclass
class WorkspaceState:
    """What a stage on another machine must run against."""

    commit: str
    files: dict[str, str | None] = field(default_factory=dict)  # path -> text (None: absent)


@dataclass
class StageReturn:
    """What comes back from a stage that ran elsewhere."""

    stage: str
    lock: dict  # the stage's dvc.lock entry
    files: dict[str, str]  # uncached outputs (metrics): path -> text
    row: dict = field(default_factory=dict)  # the stage's table row

    def to_dict(self) -> dict:
        """A JSON-ready form (the inverse of `StageReturn(**data)`)."""
        return asdict(self)


def _git(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=check)


def _dvc(repo: Path, *args: str) -> None:
    proc = subprocess.run(["dvc", *args], cwd=repo, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise DispatchError(f"`dvc {' '.join(args)}` failed in {repo}:\n{proc.stderr[-3000:]}")


def _is_state_file(path: str) -> bool:
    return path in STATE_FILES or path.endswith(".dvc")


def _changed(repo: Path) -> list[str]:
    """Paths git sees as changed or untracked (not ignored) in `repo`."""
    out = _git(repo, "status", "--porcelain=v1", "-z", "--untracked-files=all").stdout
    entries = out.split("\0")
    paths, i = [], 0
    while i < len(entries):
        entry = entries[i]
        if entry:
            paths.append(entry[3:])
            if entry[0] in "RC":  # a rename is followed by its source path
                i += 1
        i += 1
    return paths


def _may_differ(repo: Path) -> Callable[[str], bool]:
    """Whether a changed path is allowed: a pinning file, or one DVC writes (a stage output,
    such as the uncached metrics git tracks, or a .gitignore)."""
    outs = [out for out, _ in dvc_tracked_outputs(repo)]

    def allowed(path: str) -> bool:
        if _is_state_file(path) or Path(path).name == ".gitignore":
            return True
        return any(path == out or path.startswith(out + "/") for out in outs)

    return allowed


def _check_committed(repo: Path, commit: str, where: str) -> None:
    allowed = _may_differ(repo)
    others = sorted(p for p in _changed(repo) if not allowed(p))
    if others:
        shown = ", ".join(others[:5]) + (f" and {len(others) - 5} more" if len(others) > 5 else "")
        raise DispatchError(
            f"{where} {repo} has uncommitted changes ({shown}), but the stage must run against "
            f"commit {commit[:12]} on both machines: commit them (git commit), or run the stage "
            "here by removing it from pipeline.stage_deployments"
        )


def capture_state(repo: Path) -> WorkspaceState:
    """The parent's commit and version-pinning files (DispatchError if other files changed)."""
    commit = _git(repo, "rev-parse", "HEAD").stdout.strip()
    _check_committed(repo, commit, "the workspace")
    names = set(STATE_FILES) | {p for p in _changed(repo) if p.endswith(".dvc")}
    files = {
        name: (repo / name).read_text() if (repo / name).is_file() else None
        for name in sorted(names)
    }
    return WorkspaceState(commit=commit, files=files)


def apply_state(repo: Path, state: WorkspaceState) -> None:
    """Check out `state.commit` (fetching it from origin if needed) and write its files."""
    if not re.fullmatch(r"[0-9a-f]{40}([0-9a-f]{24})?", state.commit):
        raise DispatchError(f"not a full git commit id: {state.commit!r}")
    head = _git(repo, "rev-parse", "HEAD", check=False).stdout.strip()
    if head != state.commit:
        if _git(repo, "cat-file", "-e", f"{state.commit}^{{commit}}", check=False).returncode:
            _git(repo, "fetch", "--quiet", "origin", state.commit, check=False)
        if _git(repo, "cat-file", "-e", f"{state.commit}^{{commit}}", check=False).returncode:
            raise DispatchError(
                f"commit {state.commit[:12]} is not in {repo} (at {head[:12] or 'no commit'}) "
                "nor in its origin: build the image from that commit (deploy/Dockerfile) or push "
                "it where this checkout fetches from"
            )
        # the previous dispatch's files and outputs: the new ones are written and pulled below
        tracked = _git(repo, "diff", "--name-only", "-z", "HEAD").stdout.split("\0")
        allowed = _may_differ(repo)
        done = [p for p in tracked if p and allowed(p)]
        if done:
            _git(repo, "checkout", "--quiet", "HEAD", "--", *done)
        _check_committed(repo, state.commit, "the stage's checkout")
        _git(repo, "checkout", "--quiet", "--detach", state.commit)
    for name, text in state.files.items():
        path = repo / name
        if not _is_state_file(name) or Path(name).is_absolute() or ".." in Path(name).parts:
            raise DispatchError(f"refusing to write {name!r}: only params.yaml, dvc.lock, *.dvc")
        if text is None:
            path.unlink(missing_ok=True)
        else:
            path.write_text(text)


def use_remote(repo: Path, url: str) -> list[str]:
    """`dvc push/pull` arguments naming the remote stages exchange data through.

    `url` (pipeline.dvc_remote) becomes the `override` remote of `.dvc/config.local`; empty means
    the default remote of .dvc/config. A remote folder inside the repository (the default
    `.dvc-storage`) exists on this machine only, so it is refused.
    """
    remote_url(repo, url)
    if url:
        _dvc(repo, "config", "--local", f"remote.{REMOTE_NAME}.url", url)
        return ["--remote", REMOTE_NAME]
    return []


def remote_url(repo: Path, url: str) -> str:
    """The URL of that remote (`pipeline.dvc_remote`, else the default remote's; a folder as an
    absolute path). DispatchError when there is none, or only this machine has it."""
    if url:
        found, name = url, "pipeline.dvc_remote"
    else:
        from dvc.config import Config

        config = Config(dvc_dir=str(repo / ".dvc"))
        name = config["core"].get("remote")
        found = str(config["remote"].get(name, {}).get("url", "")) if name else ""
        if not found:
            raise DispatchError(
                "no DVC remote to exchange data through: set pipeline.dvc_remote "
                "(s3://bucket/path, gs://bucket/path or ssh://host/path) in params.yaml"
            )
    if "://" in found:
        return found
    folder = Path(found) if Path(found).is_absolute() else (repo / ".dvc" / found)
    if folder.resolve().is_relative_to(repo.resolve()):
        raise DispatchError(
            f"the DVC remote {name!r} is the folder {found}, which only this machine has: "
            "set pipeline.dvc_remote to a remote both machines reach "
            "(s3://bucket/path, gs://bucket/path or ssh://host/path; docs/cluster.md)"
        )
    return str(folder.resolve())


def _declared_outputs(spec: dict) -> list[tuple[str, bool]]:
    """(path, cached) of a stage's `outs`, `metrics` and `plots` entries."""
    found = []
    for key in ("outs", "metrics", "plots"):
        for entry in spec.get(key, []) or []:
            if isinstance(entry, dict):
                for path, opts in entry.items():
                    uncached = isinstance(opts, dict) and opts.get("cache") is False
                    found.append((path, not uncached))
            else:
                found.append((entry, True))
    return found


def dvc_tracked_outputs(repo: Path) -> list[tuple[str, bool]]:
    """(path, cached) of everything DVC versions: dvc.yaml's stage outputs and `.dvc` files."""
    outs = []
    for spec in yaml.safe_load((repo / "dvc.yaml").read_text())["stages"].values():
        outs.extend(_declared_outputs(spec))
    listed = _git(repo, "ls-files", "-z", "--", "*.dvc").stdout.split("\0")
    for name in filter(None, listed):
        parent = Path(name).parent
        for out in (yaml.safe_load((repo / name).read_text()) or {}).get("outs", []):
            outs.append(((parent / out["path"]).as_posix(), out.get("cache", True)))
    return outs


def input_targets(repo: Path, stage: str) -> list[str]:
    """The stage's deps that DVC versions (what to push before, and pull on the other side).

    Raises:
        DispatchError: a dep is another stage's uncached output, which no remote holds.
    """
    targets = set()
    for dep in stage_deps(repo, stage):
        dep = dep.rstrip("/")
        for out, cached in dvc_tracked_outputs(repo):
            if dep == out or dep.startswith(out + "/") or out.startswith(dep + "/"):
                if not cached:
                    raise DispatchError(
                        f"{stage!r} depends on {out}, an output with `cache: false` that no "
                        "DVC remote holds: cache it in dvc.yaml to run the stage elsewhere"
                    )
                targets.add(out if out.startswith(dep + "/") else dep)
    return sorted(targets)


def push_inputs(repo: Path, stage: str, remote: list[str]) -> list[str]:
    """Push the stage's DVC-versioned inputs to the remote; return them."""
    targets = input_targets(repo, stage)
    if targets:
        _dvc(repo, "push", *remote, *targets)
    return targets


def pull_inputs(repo: Path, stage: str, remote: list[str]) -> list[str]:
    """Pull exactly the stage's DVC-versioned inputs (as pinned by dvc.lock / .dvc files)."""
    targets = input_targets(repo, stage)
    if targets:
        _dvc(repo, "pull", "--force", *remote, *targets)
    return targets


def push_outputs(repo: Path, stage: str, remote: list[str]) -> None:
    """Push the stage's cached outputs to the remote."""
    _dvc(repo, "push", *remote, stage)


def _uncached_outputs(repo: Path, stage: str) -> list[str]:
    return [path for path, cached in _declared_outputs(stage_spec(repo, stage)) if not cached]


def stage_return(repo: Path, stage: str, row: dict | None = None) -> StageReturn:
    """The stage's dvc.lock entry and uncached outputs, after it ran (and pushed) here."""
    lock = yaml.safe_load((repo / "dvc.lock").read_text()) or {}
    entry = lock.get("stages", {}).get(stage)
    if entry is None:
        raise DispatchError(f"dvc.lock in {repo} has no entry for {stage!r} after running it")
    files = {}
    for rel in _uncached_outputs(repo, stage):
        path = repo / rel
        if not path.is_file() or path.stat().st_size > MAX_RETURNED_BYTES:
            raise DispatchError(
                f"uncached output {rel} of {stage!r} is not a file under {MAX_RETURNED_BYTES} "
                "bytes: only such files travel back with the lock entry; cache it in dvc.yaml"
            )
        files[rel] = path.read_text()
    return StageReturn(stage=stage, lock=entry, files=files, row=row or {})


def write_lock_entry(repo: Path, stage: str, entry: dict) -> None:
    """Set the stage's entry in dvc.lock, keeping the other entries and their order."""
    from ruamel.yaml import YAML

    yaml_rt = YAML()
    path = repo / "dvc.lock"
    data = yaml_rt.load(path.read_text()) if path.is_file() else None
    if not data:
        data = {"schema": "2.0", "stages": {}}
    data.setdefault("stages", {})[stage] = entry
    tmp = path.with_suffix(".lock.tmp")
    with open(tmp, "w") as handle:
        yaml_rt.dump(data, handle)
    tmp.replace(path)


def apply_return(repo: Path, returned: StageReturn, remote: list[str]) -> None:
    """Write the stage's lock entry and uncached outputs, then pull its cached outputs."""
    allowed = set(_uncached_outputs(repo, returned.stage))
    for rel, text in returned.files.items():
        if rel not in allowed:
            raise DispatchError(f"{returned.stage!r} sent back {rel!r}, not one of its outputs")
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(text)
    write_lock_entry(repo, returned.stage, returned.lock)
    _dvc(repo, "pull", "--force", *remote, returned.stage)
