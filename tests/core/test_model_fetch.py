"""Downloads on purpose: `realign fetch-models` plans offline, refuses to download when downloads
are off, and every missing-model error says how to turn them on (no network needed)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from realign_pipeline.cli import main
from realign_pipeline.config import load_params
from realign_pipeline.errors import ConfigError, InputError
from realign_pipeline.hub import downloads_enabled
from realign_pipeline.model_fetch import KNOWN_SIZES, fetch_models, plan_downloads

REPO_ROOT = Path(__file__).resolve().parents[2]
TURN_ON = "HF_HUB_OFFLINE=0 TRANSFORMERS_OFFLINE=0 realign fetch-models"


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")


def _paper_plan():  # noqa: ANN202
    cfg = load_params(REPO_ROOT / "presets/paper.yaml")
    return plan_downloads(
        [("grpo.model", cfg.grpo.model), ("caption.model", cfg.caption.model)],
        [("align.pretrained", cfg.align.model_name, cfg.align.pretrained)],
    )


@pytest.mark.parametrize(
    ("env", "enabled"),
    [
        ({"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}, False),  # scripts/env.sh default
        ({"HF_HUB_OFFLINE": "0", "TRANSFORMERS_OFFLINE": "0"}, True),  # the documented opt-in
        ({"HF_HUB_OFFLINE": "0", "TRANSFORMERS_OFFLINE": "1"}, False),  # either one blocks
        ({}, True),  # plain environment: the libraries' own default (online)
    ],
)
def test_downloads_enabled(monkeypatch: pytest.MonkeyPatch, env: dict, enabled: bool) -> None:
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert downloads_enabled() is enabled


def test_paper_plan_lists_each_hub_model_once_with_size_offline(offline: None) -> None:
    plan = {item.name: item for item in _paper_plan()}
    assert set(plan) == {"Qwen/Qwen2.5-VL-7B-Instruct", "ViT-L-14-336/openai"}
    qwen = plan["Qwen/Qwen2.5-VL-7B-Instruct"]
    assert qwen.used_by == ("grpo.model", "caption.model")  # one download for both stages
    assert qwen.size_bytes == KNOWN_SIZES["Qwen/Qwen2.5-VL-7B-Instruct"]
    assert qwen.size_source == "table"  # offline: no hub metadata
    clip = plan["ViT-L-14-336/openai"]
    assert clip.repo_id == "timm/vit_large_patch14_clip_336.openai"  # open_clip's own hub entry
    assert "16.60 GB, from table" in qwen.describe()


def test_local_models_and_random_weights_need_no_download(tmp_path: Path) -> None:
    plan = plan_downloads(
        [("grpo.model", "artifacts/tiny_models/vlm"), ("caption.model", str(tmp_path))],
        [("align.pretrained", "realign-tiny-vit", None), ("x", "ViT-B-32", "w/clip.pt")],
    )
    assert plan == []


def test_unknown_open_clip_tag_names_the_key() -> None:
    with pytest.raises(ConfigError, match=r"align\.pretrained.*'no-such-tag'.*openai"):
        plan_downloads([], [("align.pretrained", "ViT-L-14-336", "no-such-tag")])


def test_dry_run_reports_what_and_how_big_offline(offline: None) -> None:
    result = fetch_models(_paper_plan(), dry_run=True).to_dict()
    assert result["counts"] == {"models": 2, "to_download": 2, "fetched": 0}
    expected = sum(KNOWN_SIZES[m["repo_id"]] for m in result["extra"]["models"]) / 1e9
    assert result["metrics"]["download_gb"] == pytest.approx(expected, abs=0.01)


def test_cli_fetch_models_refuses_offline_in_one_line_saying_how_to_turn_downloads_on(
    offline: None, capsys: pytest.CaptureFixture[str]
) -> None:
    params = str(REPO_ROOT / "presets/paper.yaml")
    assert main(["fetch-models", "--params", params]) == 2
    err = capsys.readouterr().err
    assert f"{TURN_ON} --params {params}" in err and "Traceback" not in err
    assert "REALIGN_DOWNLOADS=1 source scripts/env.sh" in err and "HF_HOME" in err
    assert main(["fetch-models", "--params", params, "--dry-run"]) == 0


def test_missing_hub_model_error_says_how_to_fetch(offline: None) -> None:
    from realign_pipeline.models import load_vlm

    with pytest.raises(InputError, match=re.escape(TURN_ON)):
        load_vlm("Qwen/Qwen2.5-VL-7B-Instruct-not-cached")


def test_env_sh_opt_in_turns_downloads_on() -> None:
    """The REALIGN_DOWNLOADS block of scripts/env.sh, run on its own (no venv build)."""
    text = (REPO_ROOT / "scripts/env.sh").read_text(encoding="utf-8")
    block = re.search(r'^if \[ "\$\{REALIGN_DOWNLOADS.*?^fi$', text, re.S | re.M).group(0)
    show = '; echo "$HF_HUB_OFFLINE $TRANSFORMERS_OFFLINE"'
    base = {"PATH": "/usr/bin:/bin"}
    cases = [
        ({}, "1 1"),  # default: offline
        ({"REALIGN_DOWNLOADS": "1"}, "0 0"),  # the opt-in, whatever the preset
        ({"HF_HUB_OFFLINE": "0", "TRANSFORMERS_OFFLINE": "0"}, "0 0"),  # explicit values kept
    ]
    for env, expected in cases:
        out = subprocess.run(
            ["bash", "-c", block + show], env={**base, **env}, capture_output=True, text=True
        )
        assert out.stdout.strip() == expected, (env, out.stderr)
