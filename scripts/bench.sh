#!/usr/bin/env bash
# Every CPU benchmark in bench/, one table of side-by-side ratios (bench/results.json).
# bench/orchestration.py needs an up-to-date tiny pipeline: run scripts/pipeline.sh first.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
exec python bench/run.py "$@"
