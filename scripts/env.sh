#!/usr/bin/env bash
# Create (once) and activate this clone's own environment, `.venv`; source it, don't run it.
#
# uv installs uv.lock's pins (plus this checkout, editable) into the clone's `.venv`, hard-linking
# the packages from uv's shared cache (~/.cache/uv, or UV_CACHE_DIR; keep it on the clone's
# filesystem, else uv copies). So each clone imports only its own code, nothing one clone does
# changes another's environment, and a second clone's environment takes seconds and little disk.
# A fresh machine downloads everything once (about 6 GB, a few minutes). uv itself, at the pinned
# version, is installed with pip into ~/.cache/realign-pipeline/uv-<version> (REALIGN_ENV_HOME
# moves it). Re-sourcing checks the environment against uv.lock and changes nothing when it
# matches. Update the pins with `bash scripts/lock.sh`.
REALIGN_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
REALIGN_UV="${REALIGN_ENV_HOME:-$HOME/.cache/realign-pipeline}/uv-0.13.9"

# Build in a subshell so `set -e` does not leak into the shell that sources this file.
(
  set -euo pipefail
  PY="${PYTHON:-python3.11}"
  command -v "$PY" >/dev/null 2>&1 || PY=python3
  "$PY" -c 'import sys; assert sys.version_info[:2] == (3, 11), sys.version' \
    || { echo "realign-pipeline needs Python 3.11 (set PYTHON=...)" >&2; exit 2; }
  version="${REALIGN_UV##*/uv-}"
  if [ ! -x "$REALIGN_UV/bin/uv" ]; then
    echo "[env] installing uv $version into $REALIGN_UV" >&2
    rm -rf "$REALIGN_UV"
    "$PY" -m venv "$REALIGN_UV"
    "$REALIGN_UV/bin/python" -m pip install --quiet --disable-pip-version-check "uv==$version"
  fi
  # An older layout linked `.venv` to one venv shared by every clone: drop the link, keep its target.
  if [ -L "$REALIGN_ROOT/.venv" ]; then rm "$REALIGN_ROOT/.venv"; fi
  UV_LINK_MODE="${UV_LINK_MODE:-hardlink}" VIRTUAL_ENV= "$REALIGN_UV/bin/uv" sync --quiet \
    --frozen --extra test --python "$PY" --project "$REALIGN_ROOT"
) || return 2 2>/dev/null || exit 2

export VIRTUAL_ENV="$REALIGN_ROOT/.venv"
export PATH="$VIRTUAL_ENV/bin:$REALIGN_UV/bin:$PATH"
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
