"""`python -m realign_pipeline.cli`: the `realign` command, e.g. under `accelerate launch -m`."""

from realign_pipeline.cli import run

if __name__ == "__main__":
    run()
