"""Growth: time and peak memory of ingest -> sample -> review -> align data prep, per size.

For each size N it writes N seeded 32 px PNGs (`_synthetic.write_images`), then runs each stage's
library function in its own child process (so each peak is its own) on the previous stage's
output, with the tiny preset's params and these cuts to keep sampling affordable on a CPU:
one question, one seed, 8 new tokens, batches of 64 (sample); auto review.
- ingest: `run_ingest` (train source only; val split as in the preset);
- sample: `run_sample` with the tiny Qwen2.5-VL (built once);
- review: `run_review_export` + `run_review_import` (auto mode);
- align_data: what `run_align` does before its first step: read and group the pairs, decode every
  image once with the detector's transform (`ImagePixels`), text embeddings through the cache.
Reported per stage and size: seconds (inside the child, imports excluded) and peak RSS growth over
the child's RSS after its imports (MB). The last stdout line is the table as JSON.

Run: `python bench/growth.py [--sizes 1000 10000 100000]` (measured: 2 minutes for 1k, 3 for 10k,
12 for 100k on 2 CPU cores; sampling dominates).
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

from _harness import REPO, child, parser
from _synthetic import ingest, write_images

from realign_pipeline.config import load_params
from realign_pipeline.tiny_models.vlm import build_tiny_vlm

STAGES = ("ingest", "sample", "review", "align_data")


def _status_mb(field: str) -> float:
    with open("/proc/self/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _reset_peak() -> None:
    """Start the kernel's peak-RSS mark (VmHWM) afresh, so imports' transient peaks are gone."""
    with open("/proc/self/clear_refs", "w", encoding="ascii") as handle:
        handle.write("5")


def _stage(name: str, work: Path, params: str) -> dict:
    cfg = load_params(params)
    _import_all()  # imports are not the stage's memory
    _reset_peak()
    base = _status_mb("VmRSS")
    start = time.perf_counter()
    if name == "ingest":
        ingest(work / "data", work / "manifests", params)
    elif name == "sample":
        from realign_pipeline.sampling import run_sample

        section = cfg.sample.model_copy(
            update={"questions": cfg.sample.questions[:1], "seeds": [0], "max_new_tokens": 8,
                    "batch_size": 64}
        )  # fmt: skip
        run_sample(work / "manifests" / "train.parquet", work / "data", str(work / "vlm"),
                   work / "reasoning", work / "sample.json", section)  # fmt: skip
    elif name == "review":
        from realign_pipeline.review import run_review_export, run_review_import

        review = cfg.review.model_copy(update={"mode": "auto"})
        run_review_export(work / "reasoning" / "samples.parquet", work / "manifests" /
                          "train.parquet", work / "data", work / "queue", review)  # fmt: skip
        run_review_import(work / "queue", work / "data", work / "pairs.parquet",
                          work / "report.json", work / "review.json", review)  # fmt: skip
    else:
        _align_data(cfg.align, work)
    seconds = time.perf_counter() - start
    peak = _status_mb("VmHWM")
    return {"stage": name, "seconds": seconds, "peak_growth_mb": peak - base}


def _import_all() -> None:
    import realign_pipeline.align.stage  # noqa: F401
    import realign_pipeline.review  # noqa: F401
    import realign_pipeline.sampling.transformers_backend  # noqa: F401
    from realign_pipeline.align.models import create_clip  # noqa: F401


def _align_data(cfg, work: Path) -> None:  # noqa: ANN001 - AlignConfig
    from realign_pipeline.align import stage as align_stage
    from realign_pipeline.align.data import ImagePixels
    from realign_pipeline.align.models import create_clip, create_spec
    from realign_pipeline.detector.transform import create_model_transform

    train, val, _ = align_stage._prepare_data(work / "pairs.parquet", None, work / "data", cfg)
    bundle = create_clip(cfg.model_name, cfg.pretrained, seed=0)
    spec = create_spec(bundle, cfg, {})
    pixels = ImagePixels(create_model_transform(spec), cfg.image_cache_mb * 2**20)
    train, _, _ = align_stage._decode_images(train, val, pixels, work / "pairs.parquet")
    device = align_stage.resolve_device("cpu")
    align_stage._text_embeddings(bundle, train, cfg, work / "align_ckpt", device)


def main() -> None:
    """Run every size and stage, print the table and its JSON."""
    cli = parser(__doc__)
    cli.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    cli.add_argument("--params", default=str(REPO / "params.yaml"))
    cli.add_argument("--child", choices=STAGES, help="run one stage in this process")
    cli.add_argument("--work", help="the child's work folder")
    args = cli.parse_args()
    if args.child:
        print(json.dumps(_stage(args.child, Path(args.work), args.params)))
        return
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        vlm = build_tiny_vlm(Path(tmp) / "vlm", load_params(args.params).tiny_models, seed=0)
        for size in args.sizes:
            work = Path(tmp) / str(size)
            work.mkdir()
            (work / "vlm").symlink_to(vlm)
            write_images(work / "data", size)
            for stage in STAGES:
                cmd = ["--child", stage, "--work", work, "--params", args.params]
                rows.append({"rows": size, **child(__file__, *cmd)})
                print(f"{size:>8} {stage:<11}{rows[-1]['seconds']:>9.1f} s"
                      f"{rows[-1]['peak_growth_mb']:>9.0f} MB", flush=True)  # fmt: skip
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
