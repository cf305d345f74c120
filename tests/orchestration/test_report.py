"""The Prefect artifacts' text: stages table, evaluation headline, progress."""

from __future__ import annotations

from tasks.report import benchmark_headlines, eval_markdown, progress_text, stages_markdown


def test_stages_table_links_mlflow_and_shows_headline_metrics() -> None:
    rows = [
        {
            "stage": "align",
            "status": "ran",
            "duration_s": "12.5",
            "mlflow_run_id": "0123456789abcdef",
            "mlflow": "http://127.0.0.1:5000/#/experiments/1/runs/0123456789abcdef",
            "dvc_stage_hash": "feedbeefcafe1234",
            "metrics": {"val_acc": 0.87654, "val_real_acc": 0.9},
        },
        # a local store has no URL: the run id and how to open it
        {"stage": "evaluate", "status": "skipped", "mlflow_run_id": "fedcba9876543210"},
    ]
    text = stages_markdown(rows)
    lines = text.splitlines()
    assert lines[2].startswith("| stage | status | duration (s) | MLflow | DVC stage hash |")
    assert (
        "| align | ran | 12.5 | "
        "[open run](http://127.0.0.1:5000/#/experiments/1/runs/0123456789abcdef) | feedbeef | "
        "val_acc=0.8765, val_real_acc=0.9 |"
    ) in lines
    assert "| evaluate | skipped |  | `fedcba98` (local store: `mlflow ui`) |  |  |" in lines
    assert stages_markdown([], failed="align").startswith("## Stages (failed at align)")


def test_benchmark_headlines_read_both_metrics_layouts() -> None:
    # headline file (`<bench>.macc`), full document (`benchmarks.<bench>.none.macc`); perturbed
    # conditions and other numbers are not headline
    metrics = {
        "demo.macc": 0.75,
        "demo.map": 0.8,
        "demo.jpeg_q75.macc": 0.6,
        "benchmarks.paper.none.macc": 0.9,
        "benchmarks.paper.blur_s1.map": 0.1,
        "demo.ece": 0.2,
    }
    assert benchmark_headlines(metrics) == {
        "demo": {"macc": 0.75, "map": 0.8},
        "paper": {"macc": 0.9},
    }


def test_eval_artifact_starts_with_macc_and_map_per_benchmark() -> None:
    text = eval_markdown({"demo.macc": 0.75, "demo.map": 0.8}, "# Report\nbody")
    lines = text.splitlines()
    assert lines[0] == "## Headline: clean images"
    assert lines[2:5] == [
        "| benchmark | mAcc | mAP |",
        "| --- | ---: | ---: |",
        "| demo | 0.7500 | 0.8000 |",
    ]
    assert text.endswith("# Report\nbody")


def test_progress_text_has_done_total_rate_and_eta() -> None:
    # (done, total, elapsed) -> description
    assert progress_text("sample", 0, 400, 0.0) == "sample: 0/400 (0%)"
    assert progress_text("sample", 100, 400, 50.0) == "sample: 100/400 (25%), 2/s, ETA 2m30s"
    assert progress_text("align", 10, 10, 65.0) == "align: 10/10 (100%), 0.154/s, done in 1m05s"
    assert progress_text("grpo", 5, 0, 1.0) == "grpo, 5/s"


def test_stages_table_puts_macc_and_map_before_the_other_metrics() -> None:
    # metrics files are sorted by name, so best_acc and ece come before macc there
    metrics = {"demo.best_acc": 0.66, "demo.ece": 0.25, "demo.macc": 0.61, "demo.map": 0.7}
    text = stages_markdown([{"stage": "evaluate", "status": "ran", "metrics": metrics}])
    assert "| demo.macc=0.61, demo.map=0.7, demo.best_acc=0.66, demo.ece=0.25 |" in text
