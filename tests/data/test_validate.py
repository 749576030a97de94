"""Validation errors on broken copies of the real files: each names the column, the row or time, and a fix."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tsloop.data.sources import load_smap
from tsloop.data.spec import TaskSpec
from tsloop.data.task import load_task
from tsloop.data.validate import validate, validate_future
from tsloop.errors import DataError, PlanError

ETT = {"name": "ett", "timestamp": "date", "freq": "1h", "target": ["OT"], "context_length": 96, "horizon": 96,
       "past_exog": ["HUFL", "HULL", "MUFL", "MULL", "LUFL", "LULL"], "split": {"boundaries": [8640, 11520, 14400]}}
EPF = {"name": "np", "timestamp": "date", "freq": "1h", "target": ["OT"], "context_length": 168, "horizon": 24,
       "known_future": [" Grid load forecast", " Wind power forecast"]}


def broken_copy(root, tmp_path, relative, edit, raw) -> TaskSpec:
    """A spec reading an edited copy (as text, so formats stay upstream's) of a shared file."""
    frame = pd.read_csv(root / relative, dtype=str, keep_default_na=False)
    frame = edit(frame)
    frame.to_csv(tmp_path / "broken.csv", index=False)
    return TaskSpec.from_dict({**raw, "data": "broken.csv"}, base_dir=tmp_path)


def error_of(spec, frame=None) -> str:
    with pytest.raises(DataError) as err:
        validate(spec, frame)
    return str(err.value)


def test_when_a_column_is_misspelt_then_the_error_names_it_and_the_close_match(root):
    message = error_of(TaskSpec.from_dict({**ETT, "data": "shared:ett/ETTh1.csv.gz", "target": ["OTT"]}))
    assert "'OTT' (target) not found" in message and "Did you mean 'OT'?" in message


def test_when_a_value_is_not_numeric_then_its_row_time_and_value_are_shown(root, tmp_path):
    def edit(f):
        f.loc[100, "OT"] = "n/a"
        return f

    message = error_of(broken_copy(root, tmp_path, "epf/NP.csv.gz", edit, EPF))
    assert "column 'OT' has 1 non-numeric value(s)" in message
    assert "row 100 (line 102 of broken.csv), 2013-01-05 04:00:00: 'n/a'" in message
    assert "empty cell or NaN" in message


def test_when_a_timestamp_repeats_then_both_rows_and_the_time_are_named(root, tmp_path):
    def edit(f):
        f.loc[11, "date"] = f.loc[10, "date"]
        return f

    message = error_of(broken_copy(root, tmp_path, "ett/ETTh1.csv.gz", edit, ETT))
    assert "1 duplicated timestamp(s): 2016-07-01 10:00:00 on row 10" in message
    assert "Keep one row per timestamp" in message


def test_when_rows_are_out_of_order_then_the_first_inversion_is_shown(root, tmp_path):
    def edit(f):
        return f.iloc[[*range(20), 21, 20, *range(22, len(f))]]

    message = error_of(broken_copy(root, tmp_path, "ett/ETTh1.csv.gz", edit, ETT))
    assert "not in increasing order" in message
    assert "(2016-07-01 20:00:00) comes after row 20" in message and "Sort the rows by 'date'" in message


def test_when_the_raw_nab_file_repeats_an_hour_out_of_order_then_it_is_reported(root):
    spec = TaskSpec.from_dict({"name": "mt", "data": "shared:nab/data/realKnownCause/machine_temperature_system_failure.csv.gz",
                               "freq": "5min", "target": ["value"], "context_length": 288, "horizon": 12})
    message = error_of(spec)
    assert "2014-01-07 02:00:00" in message and "12 duplicated timestamp(s)" in message


def test_when_rows_are_missing_then_the_first_gaps_are_listed(root, tmp_path):
    message = error_of(broken_copy(root, tmp_path, "ett/ETTh1.csv.gz", lambda f: f.drop(index=[100, 101, 102]), ETT))
    assert "not evenly spaced at freq '1h'" in message
    assert "after 2016-07-05 03:00:00 (row 99 (line 101 of broken.csv)) comes 2016-07-05 07:00:00 (step 04:00:00)" in message
    assert "Resample" in message


def test_when_freq_is_wrong_then_the_common_step_is_suggested(root):
    message = error_of(TaskSpec.from_dict({**ETT, "data": "shared:ett/ETTh1.csv.gz", "freq": "30min"}))
    assert "Most steps in this series are 01:00:00: is freq '30min' right?" in message


def test_when_targets_are_missing_then_they_are_masked_and_counted(root, tmp_path):
    def edit(f):
        f.loc[5:9, "OT"] = ""
        return f

    task = load_task(broken_copy(root, tmp_path, "ett/ETTh1.csv.gz", edit, {**ETT, "context_length": 8, "horizon": 4}))
    assert task.report.missing_target == 5 and "5 of 17420 target values are missing" in task.report.info[0]
    item = task.dataset("train")[0]
    np.testing.assert_array_equal(item["past_target_mask"][:, 0].numpy(), [1, 1, 1, 1, 1, 0, 0, 0])
    assert item["past_target"][5:, 0].abs().sum() == 0  # zero-filled


def test_when_known_future_values_are_missing_then_every_missing_timestamp_is_listed(root, tmp_path):
    def edit(f):
        f.loc[200:203, " Wind power forecast"] = ""
        f.loc[1000, " Wind power forecast"] = "NaN"
        return f

    message = error_of(broken_copy(root, tmp_path, "epf/NP.csv.gz", edit, EPF))
    assert "' Wind power forecast' (known_future): 5 timestamp(s): " in message
    assert "2013-01-09 08:00:00 ... 2013-01-09 11:00:00 (4 steps), 2013-02-11 16:00:00" in message
    assert "Fill them" in message and "move it to past_exog" in message


def test_when_an_intervention_is_missing_then_it_is_an_error(smap_task):
    frame = load_smap().to_pandas()
    frame.loc[300, "5"] = None
    message = error_of(smap_task.spec, frame)
    assert "'5' (intervention): 1 timestamp(s): step 300" in message


def test_when_an_event_is_not_binary_then_the_row_and_value_are_shown(smap_task):
    frame = load_smap().to_pandas()
    frame.loc[10, "Label"] = "2"
    message = error_of(smap_task.spec, frame)
    assert "event column 'Label' must hold only 0 and 1" in message and "row 10, step 10: 2." in message


def test_when_a_series_is_shorter_than_one_window_then_the_error_gives_the_sizes(root):
    message = error_of(TaskSpec.from_dict({**ETT, "data": "shared:ett/ETTh1.csv.gz", "context_length": 20000}))
    assert "has 17420 rows" in message and "20000 + 96 = 20096" in message


def test_when_boundaries_exceed_a_series_then_the_error_says_so(root):
    spec = TaskSpec.from_dict({**ETT, "data": "shared:ett/ETTh1.csv.gz", "split": {"boundaries": [8640, 11520, 20000]}})
    assert "needs at least 20000" in error_of(spec)


def test_when_a_channel_never_varies_then_a_warning_names_it(smap_task):
    assert any("intervention '10' is constant" in w for w in smap_task.report.warnings)


def test_when_a_static_changes_within_a_series_then_the_error_shows_both_values(make_frame, make_spec):
    frame = make_frame(n=60, series=2, static=1)
    frame.loc[70, "c0"] = 5.0
    message = error_of(make_spec(frame), frame)
    assert "static column 'c0'" in message and "series 's1' has 1 on row 60 and 5 on row 70" in message


# -- forecast requests ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def np_frame(root):
    frame = pd.read_csv(root / "epf" / "NP.csv.gz")
    frame["date"] = pd.to_datetime(frame["date"], format="%Y/%m/%d %H:%M")
    return frame


def epf_request(np_frame):
    spec = TaskSpec.from_dict(EPF)
    return spec, np_frame.iloc[:400], np_frame.iloc[400:424].drop(columns=["OT"])


def test_when_the_future_frame_covers_the_horizon_then_the_request_is_accepted(np_frame):
    spec, history, future = epf_request(np_frame)
    (item,) = validate_future(spec, history, future.sample(frac=1.0, random_state=0))  # any row order
    assert item.future["known_future"].shape == (24, 2)
    np.testing.assert_array_equal(item.future["known_future"][:, 0], future[" Grid load forecast"].to_numpy())


def test_when_future_timestamps_are_missing_or_extra_then_they_are_listed(np_frame):
    spec, history, future = epf_request(np_frame)
    with pytest.raises(DataError) as err:
        validate_future(spec, history, pd.concat([future.drop(index=[405, 406]), np_frame.iloc[[430]]]))
    message = str(err.value)
    assert "exactly the 24 timestamps after the history's last one (2013-01-17 15:00:00)" in message
    assert "missing 2 timestamp(s): 2013-01-17 21:00:00 ... 2013-01-17 22:00:00 (2 steps)" in message
    assert "unexpected 1 timestamp(s): 2013-01-18 22:00:00" in message


def test_when_a_future_known_value_is_missing_then_its_timestamp_is_listed(np_frame):
    spec, history, future = epf_request(np_frame)
    future = future.copy()
    future.loc[410, " Grid load forecast"] = np.nan
    with pytest.raises(DataError, match=r"' Grid load forecast' \(known_future\): 1 timestamp\(s\): 2013-01-18 02:00:00"):
        validate_future(spec, history, future)


def test_when_the_task_needs_a_future_frame_and_none_is_given_then_it_is_an_error(np_frame):
    spec, history, _ = epf_request(np_frame)
    with pytest.raises(DataError, match="pass a future frame"):
        validate_future(spec, history)


def test_when_a_plan_leaves_the_intervention_bounds_then_plan_error(make_frame, make_spec):
    frame = make_frame(n=60, intervention=1)
    spec = make_spec(frame, intervention_bounds={"u0": [-1, 1]})
    future = frame.iloc[36:42][["timestamp", "series", "u0"]].assign(u0=[0, 0, 3, 0, 0, 0])
    with pytest.raises(PlanError, match=r"'u0' of series 's0' leaves its bounds at 1 step\(s\): 2024-01-02 14:00:00: 3; allowed \[-1, 1\]"):
        validate_future(spec, frame.iloc[:36], future)
