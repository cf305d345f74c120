"""What the Prefect artifacts say, as plain functions over the stage rows (no Prefect here).

The stages artifact is a markdown table (status, duration, headline metrics, a clickable MLflow
link per stage); the evaluation artifact opens with mAcc/mAP per benchmark; progress artifacts
describe done/total, rate and ETA. Metric names are the flattened keys of metrics/*.json, the
names MLflow logs too.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

HEADLINE_KEYS = ("macc", "map")
_CLEAN = ("none", "clean")  # condition names of unperturbed images in older metrics layouts


_LEADING = ("macc", "map")  # evaluation's headline numbers come first, whatever the file order


def format_metrics(metrics: Mapping[str, float], limit: int = 5) -> str:
    """`name=value` pairs (4 significant digits), the first `limit`: mAcc and mAP first, then the
    rest in the file's order."""
    names = sorted(metrics, key=lambda k: k.rsplit(".", 1)[-1] not in _LEADING)  # stable sort
    items = [f"{k}={metrics[k]:.4g}" for k in names[:limit]]
    more = len(metrics) - limit
    return ", ".join(items) + (f" (+{more} more)" if more > 0 else "")


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _mlflow_cell(row: Mapping[str, object]) -> str:
    url = str(row.get("mlflow") or "")
    if url.startswith(("http://", "https://")):
        return f"[open run]({url})"
    run_id = str(row.get("mlflow_run_id") or "")
    return f"`{run_id[:8]}` (local store: `mlflow ui`)" if run_id else ""


def stages_markdown(rows: Iterable[Mapping[str, object]], failed: str | None = None) -> str:
    """The stages table: one row per stage, a link to its MLflow run, its headline numbers."""
    # the metrics go last: a long cell then overflows to the right without hiding the links
    lines = [
        "| stage | status | duration (s) | MLflow | DVC stage hash | headline metrics |",
        "| --- | --- | ---: | --- | --- | --- |",
    ]
    for row in rows:
        metrics = row.get("metrics") or {}
        cells = (
            row.get("stage", ""),
            ": ".join(str(row[k]) for k in ("status", "error") if row.get(k)),
            row.get("duration_s", ""),
            _mlflow_cell(row),
            str(row.get("dvc_stage_hash") or "")[:8],
            format_metrics(metrics) if isinstance(metrics, Mapping) else "",
        )
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    title = "## Stages" + (f" (failed at {failed})" if failed else "")
    return title + "\n\n" + "\n".join(lines) + "\n"


def benchmark_headlines(metrics: Mapping[str, float]) -> dict[str, dict[str, float]]:
    """`{benchmark: {macc, map}}` on clean images from flattened evaluation metrics.

    Accepts `<bench>.macc` (headline metrics files) and `benchmarks.<bench>.none.macc` (the
    full evaluation document).
    """
    table: dict[str, dict[str, float]] = {}
    for key, value in metrics.items():
        *path, name = key.split(".")
        if name not in HEADLINE_KEYS:
            continue
        if path[:1] == ["benchmarks"]:
            path = path[1:]
        if len(path) == 2 and path[1] in _CLEAN:
            path = path[:1]
        if len(path) == 1:
            table.setdefault(path[0], {})[name] = value
    return table


def eval_markdown(metrics: Mapping[str, float], report: str) -> str:
    """The evaluation artifact: mAcc/mAP per benchmark first, then the full report."""
    heads = benchmark_headlines(metrics)
    lines = ["## Headline: clean images", "", "| benchmark | mAcc | mAP |", "| --- | ---: | ---: |"]
    for bench, values in sorted(heads.items()):
        macc, map_ = (values.get(k) for k in HEADLINE_KEYS)
        lines.append(
            f"| {bench} | {'' if macc is None else f'{macc:.4f}'} | "
            f"{'' if map_ is None else f'{map_:.4f}'} |"
        )
    return "\n".join(lines) + "\n\n" + report


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


def progress_text(stage: str, done: int, total: int, elapsed_s: float) -> str:
    """`sample: 120/400 (30%), 3.2/s, ETA 1m27s` (rate and ETA once something is done)."""
    text = f"{stage}: {done}/{total} ({100.0 * done / total:.0f}%)" if total else f"{stage}"
    if done > 0 and elapsed_s > 0:
        rate = done / elapsed_s
        text += f", {rate:.3g}/s"
        if total > done:
            text += f", ETA {_duration((total - done) / rate)}"
        elif total:
            text += f", done in {_duration(elapsed_s)}"
    return text
