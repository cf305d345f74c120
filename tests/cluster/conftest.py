"""Fixtures shared with tests/orchestration: toy workspace, Prefect harness and server."""

from tests.orchestration.conftest import prefect_harness, toy_workspace  # noqa: F401
from tests.orchestration.test_prefect_server import prefect_server  # noqa: F401
