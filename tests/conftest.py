"""Shared fixtures: a small synthetic data root with a manifest, a local MLflow store, the
environment's uv, and offline settings."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")

REPO_ROOT = Path(__file__).resolve().parents[1]
REAL_WORLD = REPO_ROOT / "tests" / "fixtures" / "real-world"  # see its ATTRIBUTION.md


def local_tracking(tmp_path: Path, experiment: str, **update):  # noqa: ANN201
    """Tracking settings for a sqlite store and artifact folder under `tmp_path`, no fallback."""
    from realign_pipeline.config.tracking import TrackingConfig

    base = {
        "enabled": True,
        "uri": f"sqlite:///{tmp_path / 'mlflow.db'}",
        "artifact_root": str(tmp_path / "mlartifacts"),
        "experiment": experiment,
        "fallback_to_local": False,
        "connect_timeout_s": 1.0,
    }
    return TrackingConfig(**{**base, **update})


@pytest.fixture
def tracking_cfg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # noqa: ANN201
    """`local_tracking` under `tmp_path`, nothing inherited from the environment (no tracking URI,
    no run id)."""
    for name in ("MLFLOW_TRACKING_URI", "REALIGN_RUN_ID", "REALIGN_PARENT_RUN_ID"):
        monkeypatch.delenv(name, raising=False)
    return local_tracking(tmp_path, "realign-test")


def argv(*words: object, **options: object) -> list[str]:
    """A `realign` command line: WORDS, then `--name value` per option (`_` -> `-`; a list
    repeats the option: `set=["a=1", "b=2"]` -> `--set a=1 --set b=2`)."""
    line = [str(word) for word in words]
    for name, value in options.items():
        for item in value if isinstance(value, list) else [value]:
            line += ["--" + name.replace("_", "-"), str(item)]
    return line


def _write_image(path: Path, rng: np.random.Generator, fake: bool, size: int) -> None:
    if fake:  # smooth gradients with a periodic pattern: easy to separate from noise
        x = np.linspace(0, 4 * np.pi, size)
        base = (np.sin(x)[None, :] + np.cos(x)[:, None]) * 60 + 128
        arr = np.stack([base, base[::-1], base.T], axis=-1) + rng.normal(0, 3, (size, size, 3))
    else:
        arr = rng.normal(128, 50, (size, size, 3))
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8)).save(path, format="PNG")


def make_manifest(
    root: Path,
    n_per_class: int = 4,
    size: int = 32,
    split: str = "train",
    generator: str = "gen_a",
    seed: int = 0,
) -> pd.DataFrame:
    """Write `2 * n_per_class` small PNGs under `root` and return their manifest rows."""
    rng = np.random.default_rng(seed)
    rows = []
    for label in (0, 1):
        for i in range(n_per_class):
            rel = f"{split}/{'1_fake' if label else '0_real'}/{generator}_{i}.png"
            _write_image(root / rel, rng, bool(label), size)
            data = (root / rel).read_bytes()
            rows.append(
                {
                    "image_id": hashlib.sha256(data).hexdigest(),
                    "path": rel,
                    "label": label,
                    "generator": generator if label else "real",
                    "category": "",
                    "dataset": "synthetic",
                    "split": split,
                    "width": size,
                    "height": size,
                    "format": "PNG",
                }
            )
    df = pd.DataFrame(rows)
    df["label"] = df["label"].astype("int8")
    df[["width", "height"]] = df[["width", "height"]].astype("int32")
    return df


@pytest.fixture
def synthetic_data(tmp_path: Path) -> tuple[Path, Path]:
    """(data_root, manifest_path): 8 train images, two classes, and their manifest."""
    root = tmp_path / "data"
    df = make_manifest(root)
    manifest = tmp_path / "manifests" / "train.parquet"
    manifest.parent.mkdir(parents=True)
    df.to_parquet(manifest, index=False)
    return root, manifest


# what uv prints when it cannot reach the package index (DNS, refused, timeout, offline)
_UNREACHABLE = re.compile(r"error sending request|dns error|connect|timed out|offline", re.I)


@pytest.fixture(scope="session")
def uv() -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run the uv scripts/env.sh installs (where env.sh puts it, else PATH's) with `args`; skip
    the test, with uv's own message, only when uv cannot reach the package index."""
    env_sh = (REPO_ROOT / "scripts" / "env.sh").read_text(encoding="utf-8")
    version = re.search(r'^REALIGN_UV=.*/uv-([\d.]+)"$', env_sh, re.M)
    home = Path(os.environ.get("REALIGN_ENV_HOME") or Path.home() / ".cache/realign-pipeline")
    pinned = home / f"uv-{version.group(1) if version else '?'}" / "bin" / "uv"
    binary = str(pinned) if pinned.is_file() else shutil.which("uv")
    if binary is None:
        pytest.skip(f"uv is not installed at {pinned} nor on PATH: source scripts/env.sh")

    def run(*args: str, timeout: int) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [binary, *args], capture_output=True, text=True, timeout=timeout, check=False
        )
        if done.returncode != 0 and _UNREACHABLE.search(done.stderr):
            pytest.skip(f"package index unreachable: {done.stderr.strip()[-300:]}")
        return done

    return run
