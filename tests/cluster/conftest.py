"""Fixtures shared with tests/orchestration: the toy workspace and the Prefect test harness."""

from tests.orchestration.conftest import prefect_harness, toy_workspace  # noqa: F401
