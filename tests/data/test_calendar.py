"""Calendar features: computed from timestamps for history, horizon and future frames; checked in the spec."""

import numpy as np
import pandas as pd
import pytest

from tsloop.data.calendar import calendar_columns, calendar_values
from tsloop.data.spec import TaskSpec
from tsloop.data.task import load_task
from tsloop.data.validate import validate_future
from tsloop.errors import SpecError


def _frame(n=400, start="2024-01-01 00:00"):
    time = pd.date_range(start, periods=n, freq="1h")
    rng = np.random.default_rng(0)
    return pd.DataFrame({"timestamp": time, "load": np.sin(2 * np.pi * np.arange(n) / 24) + rng.normal(0, 0.1, n)})


def _spec(**extra):
    return TaskSpec.from_dict({"name": "cal", "target": ["load"], "freq": "1h", "context_length": 48,
                               "horizon": 24, "calendar": ["hour", "weekday"], **extra})


def test_values_are_the_clock():
    times = pd.to_datetime(["2024-01-01 00:00", "2024-01-01 06:00", "2024-01-01 12:00", "2024-01-07 18:00"])
    values = calendar_values(["hour", "weekday"], times.asi8)
    np.testing.assert_allclose(values["calendar.hour_sin"], [0, 1, 0, -1], atol=1e-12)
    np.testing.assert_allclose(values["calendar.hour_cos"], [1, 0, -1, 0], atol=1e-12)
    # 2024-01-01 is a Monday (weekday 0); Sunday 18:00 is 6.75 days into the week
    np.testing.assert_allclose(values["calendar.weekday_sin"][[0, 3]], np.sin(2 * np.pi * np.array([0, 6.75]) / 7))
    assert list(values) == calendar_columns(["hour", "weekday"])


def test_task_gets_known_future_channels_without_columns_in_the_data():
    spec = _spec()
    assert spec.dims.known_future == 4 and spec.roles["known_future"] == calendar_columns(["hour", "weekday"])
    task = load_task(spec, _frame())
    window = task.dataset("train")[0]
    assert window["future_known"].shape == (24, 4) and window["past_known"].shape == (48, 4)
    assert not task.report.warnings or all("calendar." not in w for w in task.report.warnings)
    # the channel follows the clock: hour_sin of step t equals sin(2 pi (t mod 24) / 24), before scaling
    raw = task.series[0].values["known_future"][:, 0]
    np.testing.assert_allclose(raw[:48], np.sin(2 * np.pi * (np.arange(48) % 24) / 24), atol=1e-12)


def test_forecast_request_needs_no_future_frame_and_computes_the_horizon_clock():
    spec, frame = _spec(), _frame()
    (future,) = validate_future(spec, frame.iloc[:100])
    last = frame["timestamp"].iloc[99]
    expected = calendar_values(["hour", "weekday"], pd.date_range(last, periods=25, freq="1h")[1:].asi8)
    assert future.future["known_future"].shape == (24, 4)
    np.testing.assert_allclose(future.future["known_future"][:, 0], expected["calendar.hour_sin"])


def test_future_frame_with_other_known_inputs_still_gets_the_clock():
    frame = _frame().assign(temp=1.0)
    spec = _spec(known_future=["temp"])
    future = frame.iloc[100:124][["timestamp", "temp"]]
    (out,) = validate_future(spec, frame.iloc[:100], future)
    assert out.future["known_future"].shape == (24, 5)
    np.testing.assert_allclose(out.future["known_future"][:, 1],
                               calendar_values(["hour"], frame["timestamp"].iloc[100:124].values.astype("int64"))["calendar.hour_sin"])


@pytest.mark.parametrize("calendar, words", [(["hours"], "Did you mean 'hour'"), (["hour", "hour"], "twice"),
                                             ("hour,week", "unknown calendar feature 'week'")])
def test_bad_calendar_names_are_spec_errors(calendar, words):
    with pytest.raises(SpecError, match=words):
        _spec(calendar=calendar)


def test_calendar_needs_datetimes():
    with pytest.raises(SpecError, match="real timestamps"):
        TaskSpec.from_dict({"target": ["y"], "freq": "step", "context_length": 4, "horizon": 2, "calendar": ["hour"]})
