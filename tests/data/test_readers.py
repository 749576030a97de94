"""Readers: files and frames into a Table, exact column names, timestamp parsing."""

from __future__ import annotations

import gzip

import numpy as np
import polars as pl
import pytest

from tsloop.data.readers import WIDE_SERIES_ID, load_table
from tsloop.data.spec import TaskSpec
from tsloop.errors import DataError


def epf_spec(**changes) -> TaskSpec:
    raw = {"name": "np", "data": "shared:epf/NP.csv.gz", "timestamp": "date", "freq": "1h", "target": ["OT"],
           "known_future": [" Grid load forecast", " Wind power forecast"], "context_length": 168, "horizon": 24}
    return TaskSpec.from_dict({**raw, **changes})


def test_when_epf_is_read_then_slash_dates_parse_and_spaced_names_are_kept(root):
    table = load_table(epf_spec())
    assert table.rows == 52416 and table.series_ids == [WIDE_SERIES_ID]
    assert table.when(table.time[0]) == "2013-01-01 00:00:00"
    assert table.when(table.time[-1]) == "2018-12-24 23:00:00"
    assert set(table.values) == {"OT", " Grid load forecast", " Wind power forecast"}
    assert table.values[" Grid load forecast"][0] == 42497.0


def test_when_a_name_lacks_the_leading_space_then_the_error_suggests_the_exact_name(root):
    with pytest.raises(DataError) as err:
        load_table(epf_spec(known_future=["Grid load forecast", " Wind power forecast"]))
    message = str(err.value)
    assert "'Grid load forecast' (known_future) not found" in message
    assert "Did you mean ' Grid load forecast'" in message and "spaces" in message


def test_when_the_same_rows_come_as_csv_gz_parquet_or_frames_then_the_tables_are_equal(tmp_path, make_frame, make_spec):
    frame = make_frame(n=50, series=2, known_future=1, event=1, static=1)
    frame.to_csv(tmp_path / "d.csv", index=False)
    with gzip.open(tmp_path / "d.csv.gz", "wt") as fh:
        frame.to_csv(fh, index=False)
    frame.to_parquet(tmp_path / "d.parquet")
    spec = make_spec(frame)
    tables = [load_table(spec, frame), load_table(spec, pl.from_pandas(frame)), load_table(spec, pl.from_pandas(frame).lazy())]
    for name in ("d.csv", "d.csv.gz", "d.parquet"):
        tables.append(load_table(TaskSpec.from_dict({**spec.to_dict(), "data": name}, base_dir=tmp_path)))
    first = tables[0]
    for table in tables[1:]:
        assert table.series_ids == first.series_ids == ["s0", "s1"]
        np.testing.assert_array_equal(table.time, first.time)
        for column, values in first.values.items():
            np.testing.assert_allclose(table.values[column], values, rtol=1e-15)


def test_when_a_pandas_frame_has_the_time_as_index_then_it_is_used(make_frame, make_spec):
    frame = make_frame(n=30)
    spec = make_spec(frame)
    table = load_table(spec, frame.set_index("timestamp"))
    assert table.rows == 30 and table.when(table.time[0]) == "2024-01-01 00:00:00"


def test_when_timestamps_carry_a_time_zone_then_they_are_compared_in_utc(make_frame, make_spec):
    frame = make_frame(n=30)
    frame["timestamp"] = frame["timestamp"].dt.tz_localize("Europe/Paris")
    table = load_table(make_spec(frame), frame)
    assert table.when(table.time[0]) == "2023-12-31 23:00:00"


def test_when_a_timestamp_cannot_be_parsed_then_the_row_and_value_are_named(tmp_path, make_frame, make_spec):
    frame = make_frame(n=30).astype({"timestamp": str})
    frame.loc[7, "timestamp"] = "yesterday"
    frame.to_csv(tmp_path / "d.csv", index=False)
    spec = TaskSpec.from_dict({**make_spec(frame).to_dict(), "data": "d.csv"}, base_dir=tmp_path)
    with pytest.raises(DataError, match=r"cannot parse timestamp 'yesterday' on row 7 \(line 9 of d.csv\)"):
        load_table(spec)


def test_when_freq_is_step_then_integer_indices_are_read(make_frame, make_spec):
    frame = make_frame(n=30).assign(timestamp=np.arange(30) * 1.0)
    table = load_table(make_spec(frame, freq="step"), frame)
    assert table.step_index and table.time[-1] == 29 and table.when(5) == "step 5"


def test_when_a_future_frame_lacks_known_future_columns_then_the_error_says_to_pass_them():
    import pandas as pd

    from tsloop.data.readers import load_table
    from tsloop.data.spec import TaskSpec
    from tsloop.errors import DataError

    spec = TaskSpec(target=["y"], known_future=["temperature"], freq="1h", context_length=4, horizon=2)
    frame = pd.DataFrame({"timestamp": pd.date_range("2024-01-01", periods=2, freq="h")})
    with pytest.raises(DataError, match=r"--future FILE"):
        load_table(spec, frame, roles=("known_future", "intervention"))
