"""Pieces shared by the query commands (tsloop/cli/common.py): request files and the model option."""

from __future__ import annotations

import argparse

import pandas as pd
import polars as pl
import pytest

from tsloop.cli.common import add_model_argument, add_sampling_arguments, read_frame
from tsloop.errors import DataError
from tsloop.query.results import NUM_SAMPLES


def test_when_a_csv_request_is_read_then_every_value_stays_text_until_validation(tmp_path):
    (tmp_path / "history.csv").write_text("timestamp,cpu\n2024-01-01 00:00,0.5\n2024-01-01 00:05,\n")
    frame = read_frame(tmp_path / "history.csv", "history")
    assert frame.schema == {"timestamp": pl.String, "cpu": pl.String}
    assert frame["cpu"].to_list() == ["0.5", None]


def test_when_a_parquet_request_is_read_then_its_types_are_kept(tmp_path):
    pd.DataFrame({"cpu": [0.5, 0.7]}).to_parquet(tmp_path / "history.parquet")
    assert read_frame(tmp_path / "history.parquet", "history")["cpu"].to_list() == [0.5, 0.7]


def test_when_the_file_is_missing_or_unreadable_then_the_error_names_it_and_what_to_give(tmp_path):
    with pytest.raises(DataError, match="future file .*nowhere.csv does not exist"):
        read_frame(tmp_path / "nowhere.csv", "future")
    (tmp_path / "broken.parquet").write_bytes(b"not parquet")
    with pytest.raises(DataError, match="history file .*broken.parquet could not be read .*give a CSV"):
        read_frame(tmp_path / "broken.parquet", "history")


def test_when_a_query_command_is_parsed_then_the_model_is_required_and_sampling_has_defaults():
    parser = argparse.ArgumentParser()
    add_model_argument(parser)
    add_sampling_arguments(parser)
    args = parser.parse_args(["--model", "out/model.pt"])
    assert (args.model, args.samples, args.seed) == ("out/model.pt", NUM_SAMPLES, 0)
    with pytest.raises(SystemExit):
        parser.parse_args([])
