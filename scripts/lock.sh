#!/usr/bin/env bash
# Update the pins after a change to pyproject.toml (the one command; `bash scripts/lock.sh`, extra
# arguments go to `uv lock`, e.g. `--upgrade-package trl`):
#   uv.lock               the full set for pyproject's dependencies and extras (`uv lock`), which
#                         scripts/env.sh installs with `uv sync --frozen`;
#   requirements-gpu.lock the GPU image's set (deploy/Dockerfile): requirements-gpu.in on top of
#                         pyproject's dependencies, every version uv.lock also pins kept, except
#                         where requirements-gpu.overrides says why not.
# Both keep their current versions unless a requirement forces a change.
# tests/core/test_gpu_lock.py checks the two agree.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
uv lock "$@"
uv sync --quiet --frozen --extra test
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
# uv.lock's pins, less the packages the overrides free (named by their `# free:` lines).
free="$(sed -n 's/^# free: //p' requirements-gpu.overrides | tr ' ' '\n' | grep . | paste -sd'|')"
uv export --frozen --no-hashes --no-emit-project --no-header --no-annotate \
  | grep -v -i -E "^(${free})==" > "$tmp/shared.txt"
uv pip compile pyproject.toml requirements-gpu.in --constraint "$tmp/shared.txt" \
  --override requirements-gpu.overrides --python-version 3.11 \
  --python-platform x86_64-manylinux_2_28 --no-annotate --quiet \
  --custom-compile-command "bash scripts/lock.sh" --output-file requirements-gpu.lock
