"""IngestConfig validation: bad values stop at load time with a message naming the problem."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from realign_pipeline.config.ingest import IngestConfig
from tests.data.data_helpers import ingest_config, preset_section

SRC = {"name": "s", "layout": "aigcdetect", "path": "train"}


@pytest.mark.parametrize(
    ("updates", "message"),
    [
        # a layout that does not exist
        (
            {"train_sources": [{**SRC, "layout": "zip"}]},
            "'aigcdetect', 'categories', 'folder', 'genimage' or 'csv'",
        ),
        # csv layout without its column names
        ({"train_sources": [{**SRC, "layout": "csv"}]}, "layout csv needs `csv:"),
        # csv options on a folder source
        (
            {
                "train_sources": [
                    {
                        **SRC,
                        "csv": {
                            "path_column": "p",
                            "label_column": "l",
                            "generator_column": None,
                        },
                    }
                ]
            },
            "only for layout csv",
        ),
        # two sources with one name would overwrite each other's manifest
        ({"benchmarks": [{**SRC, "name": "demo_train"}]}, "repeated: \\['demo_train'\\]"),
        # a name that cannot be a file name
        ({"benchmarks": [{**SRC, "name": "../x"}]}, "should match pattern"),
        # no training data at all
        ({"train_sources": []}, "at least 1 item"),
        # val_fraction must leave something to train on
        ({"val_fraction": 1.0}, "less than 1"),
        # extensions are compared lower case, with the dot
        ({"extensions": ["PNG"]}, "lower case and start with '.'"),
        # a typo in a key
        ({"max_pixel": 10}, "Extra inputs are not permitted"),
        # workers cannot be negative
        ({"num_workers": -1}, "greater than or equal to 0"),
    ],
)
def test_ingest_config_rejects_bad_values(updates: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ingest_config(**updates)


def test_every_ingest_key_is_required() -> None:
    section = preset_section("ingest")
    for key in ("val_fraction", "drop_leakage", "num_workers", "min_side"):
        partial = {k: v for k, v in section.items() if k != key}
        with pytest.raises(ValidationError, match=f"{key}\n  Field required"):
            IngestConfig.model_validate(partial)
