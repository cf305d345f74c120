"""Rebuild the protocol presets (presets/paper-*.yaml) from presets/paper.yaml.

Each protocol preset keeps its own header, `preset` and data keys (`ingest.train_sources`,
`ingest.benchmarks`, `evaluate.benchmarks`) and takes everything else from presets/paper.yaml.
Run after editing presets/paper.yaml:
    python scripts/sync_presets.py          # rewrite
    python scripts/sync_presets.py --check  # exit 1 when a preset is out of sync
"""

from __future__ import annotations

import sys
from pathlib import Path

from realign_pipeline.config.protocols import BASE_PRESET, PROTOCOLS, render_protocol_preset

PRESETS = Path(__file__).resolve().parents[1] / "presets"


def main(argv: list[str]) -> int:
    base = (PRESETS / BASE_PRESET).read_text()
    stale = []
    for name in PROTOCOLS:
        path = PRESETS / f"{name}.yaml"
        text = path.read_text()
        synced = render_protocol_preset(base, text)
        if synced != text:
            stale.append(path.name)
            if "--check" not in argv:
                path.write_text(synced)
    verb = "out of sync" if "--check" in argv else "rewritten"
    print(f"{verb}: {', '.join(stale) or 'none'}")
    return 1 if stale and "--check" in argv else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
