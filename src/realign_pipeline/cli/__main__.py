"""`python -m realign_pipeline.cli`: the `realign` command, e.g. under `accelerate launch -m`."""

import sys

from realign_pipeline.cli import main

if __name__ == "__main__":
    sys.exit(main())
