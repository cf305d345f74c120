"""Ablation planning, experiment matching and the comparison table (pure parts)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from realign_pipeline.config.evaluate import AblateConfig
from realign_pipeline.errors import ConfigError
from realign_pipeline.evaluate.ablate import (
    TABLES,
    apply_overrides,
    build_comparison,
    comparison_header,
    experiment_name,
    find_experiment,
    parse_experiments,
    plan_ablation,
    render_comparison,
    write_comparison,
)

ALL = AblateConfig(
    text_variants=["full", "reasoning_only", "label_caption", "caption_only", "label_only"],
    training_variants=[
        "joint_lora",
        "joint_full",
        "sequential_full",
        "sequential_lora",
        "bce_only_frozen",
        "bce_only_lora",
    ],
    perturbation="none",
)
PARAMS = {
    "align": {
        "text_variant": "full",
        "strategy": "joint",
        "finetune": "lora",
        "learning_rate": 1e-4,
    }
}


def test_tables_hold_the_paper_numbers() -> None:
    text = {v.name: v.paper_macc for v in TABLES["text"]}
    assert text == {
        "full": 97.09,
        "label_caption": 91.63,
        "reasoning_only": 96.87,
        "caption_only": 88.32,
        "label_only": 91.33,
    }
    training = {v.name: v.paper_macc for v in TABLES["training"]}
    assert training["sequential_full"] == 79.07 and training["bce_only_lora"] == 93.68


def test_plan_filters_by_params_and_keeps_paper_order() -> None:
    cfg = ALL.model_copy(update={"text_variants": ["label_only", "full"]})
    assert [v.tag for v in plan_ablation("text", cfg)] == ["text/full", "text/label_only"]
    assert len(plan_ablation("all", ALL)) == 11
    with pytest.raises(ConfigError, match="allowed"):
        plan_ablation("strategy", ALL)


def test_text_rows_keep_the_presets_training_and_training_rows_pin_it() -> None:
    by_tag = {v.tag: v for v in plan_ablation("all", ALL)}
    for name in ALL.text_variants:
        # Table 4 trains with the preset's own strategy and fine-tuning
        assert by_tag[f"text/{name}"].overrides == (("align.text_variant", name),)
    assert by_tag["training/bce_only_frozen"].set_args() == [
        "-S",
        "align.text_variant=full",
        "-S",
        "align.strategy=bce_only",
        "-S",
        "align.finetune=frozen",
    ]
    # on the paper preset (joint + LoRA) Table 4's full row is Table 5's joint_lora
    paper = {"align": {"text_variant": "full", "strategy": "joint", "finetune": "lora"}}
    assert apply_overrides(paper, by_tag["text/full"].overrides) == apply_overrides(
        paper, by_tag["training/joint_lora"].overrides
    )


def test_every_row_says_what_it_does() -> None:
    for variant in plan_ablation("all", ALL):
        assert len(variant.definition) > 20, variant.tag
    by_tag = {v.tag: v for v in plan_ablation("all", ALL)}
    assert "negatives" in by_tag["text/label_only"].definition
    assert "only images whose reasoning survived review" in by_tag["text/caption_only"].definition
    assert "one warmup + decay schedule" in by_tag["training/sequential_lora"].definition


def test_apply_overrides_copies_and_rejects_unknown_sections() -> None:
    variant = TABLES["text"][-1]  # label_only
    result = apply_overrides(PARAMS, variant.overrides)
    assert result["align"]["text_variant"] == "label_only"
    assert PARAMS["align"]["text_variant"] == "full"  # the input is not mutated
    with pytest.raises(ConfigError, match="nope"):
        apply_overrides(PARAMS, [("nope.x", "1")])


def test_experiment_name_changes_with_params() -> None:
    variant = TABLES["text"][0]
    name = experiment_name(variant, PARAMS)
    assert name.startswith("text-full-") and name == experiment_name(variant, PARAMS)
    other = apply_overrides(PARAMS, [("align.learning_rate", 3e-4)])
    assert experiment_name(variant, other) != name


def _exp_show(params: dict, metrics: dict | None, error: dict | None = None) -> list[dict]:
    """The shape of DVC 3's `dvc exp show --json` (recorded from dvc 3.67)."""

    def entry(rev: str, name: str | None, p: dict, m: dict | None, err=None) -> dict:
        metric = {"data": m} if m is not None else {"error": {"type": "FileNotFoundError"}}
        return {
            "rev": rev,
            "name": name,
            "error": err,
            "data": {
                "params": {"params.yaml": {"data": p}},
                "metrics": {
                    "metrics/eval.json": metric,
                    "metrics/robustness.json": {"data": {"demo": {"jpeg_q75": {"macc": 0.5}}}},
                },
            },
        }

    experiment = entry("abc", "text-label_only-1", params, metrics, error)
    baseline = entry("base", "main", PARAMS, None)
    baseline["experiments"] = [{"revs": [experiment], "name": "text-label_only-1"}]
    return [entry("workspace", None, PARAMS, None), baseline]


def test_parse_and_find_experiment_by_params() -> None:
    wanted = apply_overrides(PARAMS, TABLES["text"][-1].overrides)
    metrics = {"demo": {"macc": 0.75}}
    workspace, records = parse_experiments(
        _exp_show(wanted, metrics), params_file="params.yaml", metrics_file="metrics/eval.json"
    )
    assert workspace == PARAMS
    assert find_experiment(records, wanted).metrics == metrics
    assert find_experiment(records, PARAMS) is None  # other params: not the same experiment
    both = ["metrics/eval.json", "metrics/robustness.json"]
    _, records = parse_experiments(
        _exp_show(wanted, metrics), params_file="params.yaml", metrics_file=both
    )  # the two files of the evaluate stage, merged
    assert find_experiment(records, wanted).metrics == {
        "demo": {"macc": 0.75, "jpeg_q75": {"macc": 0.5}}
    }
    # a failed experiment, or one without metrics, is not reused
    for show in (_exp_show(wanted, metrics, {"msg": "boom"}), _exp_show(wanted, None)):
        _, records = parse_experiments(
            show, params_file="params.yaml", metrics_file="metrics/eval.json"
        )
        assert find_experiment(records, wanted) is None


def test_comparison_table_has_our_macc_and_the_papers(tmp_path: Path) -> None:
    variants = plan_ablation(
        "text", ALL.model_copy(update={"text_variants": ["full", "label_only"]})
    )
    metrics = {
        "text/full": {"ultrasynth": {"macc": 0.8125, "jpeg_q75": {"macc": 0.5}}},
        "text/label_only": None,  # failed experiment: empty cells, not a crash
    }
    kwargs = {"benchmarks": ["aigi_holmes", "ultrasynth"], "preset": "paper-holmes"}
    table = build_comparison(variants, metrics, condition="none", **kwargs)
    assert table.columns.tolist() == [
        "table",
        "variant",
        "mAcc aigi_holmes",
        "mAcc ultrasynth",
        "paper mAcc ultrasynth",  # beside the benchmark the paper measured, only there
        "definition",
    ]
    assert table["mAcc ultrasynth"].iloc[0] == pytest.approx(0.8125)  # fractions, as metrics
    robust = build_comparison(variants, metrics, condition="jpeg_q75", **kwargs)
    assert robust["mAcc ultrasynth"].iloc[0] == pytest.approx(0.5)
    assert pd.isna(table["mAcc ultrasynth"].iloc[1])
    assert table["paper mAcc ultrasynth"].tolist() == [0.9709, 0.9133]
    header = comparison_header("paper-holmes", kwargs["benchmarks"], "none")
    markdown = render_comparison(table, header)
    assert "trained on the AIGI-Holmes training set" in markdown
    assert "| text | full | n/a | 0.8125 | 0.9709 |" in markdown
    assert "| text | label_only | n/a | n/a | 0.9133 |" in markdown
    assert "- `text/full`: text = " in markdown
    csv_path, md_path = write_comparison(table, tmp_path / "abl", "text", header)
    assert pd.read_csv(csv_path)["variant"].tolist() == ["full", "label_only"]
    assert md_path.read_text() == markdown


@pytest.mark.parametrize(
    ("preset", "benchmarks"),
    [
        ("paper-aigcdetect", ["aigcdetect"]),  # other training set: not comparable
        ("tiny", ["demo"]),
        ("paper-holmes", ["aigi_holmes"]),  # right protocol, but UltraSynth-10k not evaluated
    ],
)
def test_paper_numbers_only_beside_the_matching_protocol(preset, benchmarks) -> None:
    variants = plan_ablation("text", ALL)
    table = build_comparison(variants, {}, benchmarks=benchmarks, condition="none", preset=preset)
    assert not any(c.startswith("paper") for c in table.columns)
    header = comparison_header(preset, benchmarks, "none")
    assert "Paper numbers not shown" in header
