"""Property-based tests of the validator on generated frames (hypothesis)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tsloop.data.spec import TaskSpec
from tsloop.data.validate import validate
from tsloop.errors import DataError

CTX, HOR = 8, 4
FREQS = {"5min": "5min", "1h": "1h", "1d": "1D"}
PROPS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def frames(draw):
    """A valid long frame: 1-3 series of 40-80 rows, one column per role, targets partly missing."""
    freq = draw(st.sampled_from(sorted(FREQS)))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    parts = []
    for s in range(draw(st.integers(1, 3))):
        n = draw(st.integers(40, 80))
        start = pd.Timestamp("2020-01-01") + pd.Timedelta(FREQS[freq]) * int(rng.integers(0, 1000))
        y = rng.normal(size=n) * 10 ** rng.uniform(-3, 6)
        y[rng.random(n) < 0.1] = np.nan  # missing targets are allowed (masked)
        y[0] = 1.0
        parts.append(pd.DataFrame({
            "timestamp": pd.date_range(start, periods=n, freq=FREQS[freq]),
            "series": f"s{s}",
            "y": y,
            "k": rng.normal(size=n),
            "u": rng.integers(0, 10, size=n).astype(float),
            "e": (rng.random(n) < 0.2).astype(float),
            "c": float(rng.normal()),
        }))
    frame = pd.concat(parts, ignore_index=True)
    spec = TaskSpec.from_dict(dict(name="prop", format="long", series_id="series", freq=freq, target=["y"],
                                   known_future=["k"], intervention=["u"], event=["e"], static=["c"],
                                   context_length=CTX, horizon=HOR))
    return frame, spec, rng


@PROPS
@given(frames())
def test_when_a_frame_is_valid_then_it_always_validates(case):
    frame, spec, _ = case
    report = validate(spec, frame)
    assert report.rows == len(frame) and report.series == frame["series"].nunique()
    assert report.missing_target == int(frame["y"].isna().sum())


@PROPS
@given(frames(), st.sampled_from(["k", "u"]), st.data())
def test_when_a_known_future_value_is_nan_then_its_timestamp_is_reported(case, column, data):
    frame, spec, _ = case
    row = data.draw(st.integers(0, len(frame) - 1))
    frame = frame.copy()
    frame.loc[row, column] = np.nan
    with pytest.raises(DataError) as err:
        validate(spec, frame)
    message = str(err.value)
    assert repr(column) in message and str(frame.loc[row, "timestamp"]) in message
    assert f"series {frame.loc[row, 'series']!r}" in message


@PROPS
@given(frames(), st.data())
def test_when_timestamps_are_shuffled_then_the_order_is_always_reported(case, data):
    frame, spec, rng = case
    sid = data.draw(st.sampled_from(sorted(frame["series"].unique())))
    rows = frame.index[frame["series"] == sid].to_numpy()
    order = rng.permutation(len(rows))
    if (order == np.arange(len(rows))).all():
        order = order[::-1]
    frame = frame.copy()
    frame.loc[rows, "timestamp"] = frame.loc[rows, "timestamp"].to_numpy()[order]
    with pytest.raises(DataError, match=f"timestamps of series '{sid}' are not in increasing order.*Sort the rows"):
        validate(spec, frame)


@PROPS
@given(frames(), st.data())
def test_when_a_timestamp_is_duplicated_then_both_rows_are_reported(case, data):
    frame, spec, _ = case
    row = data.draw(st.integers(1, len(frame) - 1))
    if frame.loc[row, "series"] != frame.loc[row - 1, "series"]:
        row -= 1 if row > 1 else -1
    frame = frame.copy()
    frame.loc[row, "timestamp"] = frame.loc[row - 1, "timestamp"]
    with pytest.raises(DataError, match="duplicated timestamp") as err:
        validate(spec, frame)
    assert str(frame.loc[row, "timestamp"]) in str(err.value)


@PROPS
@given(frames(), st.data(), st.sampled_from([np.inf, -np.inf, 1e300]))
def test_when_a_value_is_infinite_or_huge_then_its_row_is_reported(case, data, value):
    frame, spec, _ = case
    row = data.draw(st.integers(0, len(frame) - 1))
    column = data.draw(st.sampled_from(["y", "k"]))
    frame = frame.copy()
    frame.loc[row, column] = value
    with pytest.raises(DataError) as err:
        validate(spec, frame)
    assert repr(column) in str(err.value) and str(frame.loc[row, "timestamp"]) in str(err.value)
