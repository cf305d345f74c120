#!/usr/bin/env bash
# The README's second command: set up the environment if needed, lint, and run the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
ruff check src flows tasks tests bench
exec python -m pytest "$@"
