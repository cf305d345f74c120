"""Sampling fixtures: tiny preset sections, a fake backend, a tiny VLM (built once per session)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from realign_pipeline.config.sample import CaptionConfig, SampleConfig
from realign_pipeline.config.tiny_models import TinyModelsConfig
from realign_pipeline.sampling.backend import Generation

REPO_ROOT = Path(__file__).resolve().parents[2]


def _preset() -> dict:
    return yaml.safe_load((REPO_ROOT / "params.yaml").read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def sample_cfg() -> SampleConfig:
    """The tiny preset's `sample` section, shrunk: 3 questions x 2 seeds, batches of 4."""
    cfg = SampleConfig.model_validate(_preset()["sample"])
    return cfg.model_copy(update={"batch_size": 4, "max_new_tokens": 8, "temperatures": [1.0]})


@pytest.fixture(scope="session")
def caption_cfg() -> CaptionConfig:
    """The tiny preset's `caption` section with short captions."""
    cfg = CaptionConfig.model_validate(_preset()["caption"])
    return cfg.model_copy(update={"batch_size": 4, "max_new_tokens": 8})


@pytest.fixture(scope="session")
def tiny_vlm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny Qwen2.5-VL saved like a hub snapshot (built offline from the tiny preset)."""
    from realign_pipeline.tiny_models import build_tiny_vlm

    cfg = TinyModelsConfig.model_validate(_preset()["tiny_models"])
    return build_tiny_vlm(tmp_path_factory.mktemp("sampling-models") / "vlm", cfg, seed=0)


class FakeBackend:
    """A deterministic stand-in for a model: the text depends on the image, the key and the batch.

    Putting the prompt's position and the batch size into the text makes any change in how
    prompts are batched (sharding, resuming) visible in the output table.
    """

    model_id = "fake-model"

    def __init__(self) -> None:
        self.calls: list[tuple[int, int, float]] = []

    def generate(
        self, images: list, questions: list[str], seed: int, temperature: float
    ) -> list[Generation]:
        self.calls.append((len(images), seed, temperature))
        out = []
        for pos, (image, question) in enumerate(zip(images, questions, strict=True)):
            mean = float(np.asarray(image).std())
            answer = "real" if mean > 30 else "fake"  # noise images (real) have a high std
            text = (
                f"<think>std {mean:.1f}, q{len(question)}, s{seed}, t{temperature}, "
                f"pos {pos}/{len(images)}</think><answer>{answer}</answer>"
            )
            out.append(Generation(text=text, n_tokens=7))
        return out

    @property
    def n_generated(self) -> int:
        return sum(n for n, _, _ in self.calls)


class FailingBackend:
    """A backend that must not be called (everything is already done)."""

    model_id = "fake-model"

    def generate(self, *args, **kwargs):  # noqa: ANN002, ANN003
        raise AssertionError("nothing should be generated")


@pytest.fixture
def fake_backend() -> FakeBackend:
    """A fresh fake backend."""
    return FakeBackend()


@pytest.fixture
def new_fake_backend() -> type[FakeBackend]:
    """The fake backend class, for tests that need several fresh instances."""
    return FakeBackend


@pytest.fixture
def failing_backend() -> FailingBackend:
    """A backend that fails the test if anything is generated."""
    return FailingBackend()


@pytest.fixture(autouse=True)
def _restore_torch_threads():  # noqa: ANN202
    """The backend sets torch's process-wide thread count (cpu_threads); undo it per test."""
    import torch

    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)
