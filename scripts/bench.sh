#!/usr/bin/env bash
# Every CPU benchmark in bench/ (bench/run.py's BENCHMARKS), one table of side-by-side ratios in
# bench/results.json. A full run times no-op runs of this checkout's tiny pipeline
# (bench/orchestration.py), so the pipeline is brought up to date first (scripts/pipeline.sh, a
# few minutes on a fresh clone) when orchestration is among the benchmarks.
# `--quick`: small sizes, two benchmarks at a time, orchestration on a one-stage copy of the
# pipeline (no pipeline run), about 3 minutes (CI); bench/results-quick.json.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
names="$(printf '%s\n' "$@" | grep -v -x -e '--quick' || true)"
if [[ " $* " != *" --quick "* ]] && { [ -z "$names" ] || grep -q -x orchestration <<< "$names"; }; then
  if ! dvc status --quiet >/dev/null 2>&1; then
    echo "[bench] the tiny pipeline is not up to date: running scripts/pipeline.sh first" >&2
    bash scripts/pipeline.sh
  fi
fi
exec python bench/run.py "$@"
