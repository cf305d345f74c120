#!/usr/bin/env bash
# Create (once) and activate the project's virtual environment; source it, don't run it.
#
# The environment lives outside the clone, keyed by a hash of requirements.lock (the full pin
# set), so a second clone or a rerun reuses it and nothing is reinstalled unless the pins
# changed. A fresh machine builds it from scratch (about 6 GB, a few minutes). Override the
# location with REALIGN_ENV_HOME. `.venv` in the repo links to it.
REALIGN_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
REALIGN_VENV="${REALIGN_ENV_HOME:-$HOME/.cache/realign-pipeline}/venv-$(sha256sum < "$REALIGN_ROOT/requirements.lock" | cut -c1-16)"

# Build in a subshell so `set -e` does not leak into the shell that sources this file.
(
  set -euo pipefail
  ROOT="$REALIGN_ROOT"
  VENV="$REALIGN_VENV"
  PY="${PYTHON:-python3.11}"
  command -v "$PY" >/dev/null 2>&1 || PY=python3
  "$PY" -c 'import sys; assert sys.version_info[:2] == (3, 11), sys.version' \
    || { echo "realign-pipeline needs Python 3.11 (set PYTHON=...)" >&2; exit 2; }
  if [ ! -f "$VENV/.complete" ]; then
    echo "[env] building $VENV (first run: several minutes)" >&2
    rm -rf "$VENV"
    mkdir -p "$(dirname "$VENV")"
    "$PY" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --upgrade pip setuptools wheel
    # torch first, from the lock's pins, so nothing else can pull a different build.
    "$VENV/bin/python" -m pip install --quiet $(grep -E '^(torch|torchvision)==' "$ROOT/requirements.lock")
    "$VENV/bin/python" -m pip install --quiet -r "$ROOT/requirements.lock"
    touch "$VENV/.complete"
  fi
  # The project itself: an editable install of *this* checkout (cheap; redone only when the
  # venv points at another clone or pyproject.toml changed, e.g. its console scripts).
  stamp="$ROOT/src $(sha256sum < "$ROOT/pyproject.toml" | cut -c1-16)"
  here="$("$VENV/bin/python" -c 'import realign_pipeline, pathlib; print(pathlib.Path(realign_pipeline.__file__).resolve().parents[1])' 2>/dev/null || true)"
  if [ "$here" != "$ROOT/src" ] || [ "$(cat "$VENV/.editable" 2>/dev/null)" != "$stamp" ]; then
    "$VENV/bin/python" -m pip install --quiet --no-deps --no-build-isolation -e "$ROOT"
    echo "$stamp" > "$VENV/.editable"
  fi
  ln -sfn "$VENV" "$ROOT/.venv"
) || return 2 2>/dev/null || exit 2

export VIRTUAL_ENV="$REALIGN_VENV"
export PATH="$REALIGN_VENV/bin:$PATH"
# Never reach a model hub unless asked: the tiny preset builds its models offline, and the paper
# preset's models are fetched on purpose with `realign fetch-models` into the cache under HF_HOME.
# Downloads on for this shell: `REALIGN_DOWNLOADS=1 source scripts/env.sh`; for one command:
# `HF_HUB_OFFLINE=0 TRANSFORMERS_OFFLINE=0 realign fetch-models --params presets/paper.yaml`.
if [ "${REALIGN_DOWNLOADS:-0}" = "1" ]; then
  export HF_HUB_OFFLINE=0 TRANSFORMERS_OFFLINE=0
else
  export HF_HUB_OFFLINE="${HF_HUB_OFFLINE:-1}"
  export TRANSFORMERS_OFFLINE="${TRANSFORMERS_OFFLINE:-1}"
fi
export HF_HUB_DISABLE_TELEMETRY=1
export DO_NOT_TRACK=1
export PREFECT_SERVER_ANALYTICS_ENABLED=false
# Prefect's ephemeral API server waits 20 s by default to come up; a busy 2-core machine can need more.
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="${PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS:-120}"
export TOKENIZERS_PARALLELISM=false
