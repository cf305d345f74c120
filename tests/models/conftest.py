"""The tiny Qwen2.5-VL fixtures of tests/tiny_models, for the loader tests."""

from tests.tiny_models.conftest import tiny_cfg, tiny_vlm_dir  # noqa: F401
