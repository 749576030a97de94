"""Zero-shot forecasts: any columns, channel by channel, short histories padded as missing,
long horizons rolled forward on the median, and clear errors for bad requests."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.conftest import PRETRAIN_CONTEXT, PRETRAIN_HORIZON
from tsloop import Forecaster
from tsloop.errors import DataError, SpecError
from tsloop.query.zero_shot import MAX_PASSES, min_history

SAMPLES = 32


@pytest.fixture(scope="module")
def fc(pretrained) -> Forecaster:
    return Forecaster.pretrained(pretrained.model)


def hourly(n: int, start: str = "2024-03-01", **columns) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"ts": pd.date_range(start, periods=n, freq="h")})
    for name, level in (columns or {"load": 50.0}).items():
        frame[name] = level + 5 * np.sin(np.arange(n) / 3) + rng.normal(size=n)
    return frame


def test_when_forecasting_two_targets_of_two_series_then_each_gets_its_own_forecast(fc):
    history = pd.concat([hourly(60, load=50.0, temp=20.0).assign(host="a"),
                         hourly(45, load=500.0, temp=-5.0).assign(host="b")])
    result = fc.zero_shot(history, ["load", "temp"], timestamp="ts", series_id="host", num_samples=SAMPLES)
    assert result.samples.shape == (SAMPLES, 2, PRETRAIN_HORIZON, 2) and np.isfinite(result.samples).all()
    assert result.series_ids == ["a", "b"] and result.targets == ["load", "temp"]
    assert result.timestamps[0][0] == pd.Timestamp("2024-03-03 12:00")  # 60 hourly rows after 2024-03-01
    assert result.timestamps[1][0] == pd.Timestamp("2024-03-02 21:00")
    mean = result.samples.mean(axis=0)  # each series in its own units: standardised by its own history
    assert abs(mean[1, :, 0].mean() - 500) < abs(mean[1, :, 0].mean() - 50)
    table = result.to_frame()
    assert len(table) == 2 * PRETRAIN_HORIZON * 2 and set(table["channel"]) == {"load", "temp"}


def test_when_the_history_is_shorter_than_the_context_then_it_equals_one_padded_with_missing_rows(fc):
    short = hourly(20, start="2024-03-02")
    padded = pd.concat([pd.DataFrame({"ts": pd.date_range(end="2024-03-01 23:00", periods=PRETRAIN_CONTEXT - 20,
                                                          freq="h"), "load": np.nan}), short])
    a = fc.zero_shot(short, "load", timestamp="ts", num_samples=SAMPLES)
    b = fc.zero_shot(padded, "load", timestamp="ts", num_samples=SAMPLES)
    np.testing.assert_allclose(a.samples, b.samples)


def test_when_the_horizon_is_longer_than_the_models_then_it_is_rolled_forward_on_the_median(fc):
    history = hourly(50)
    horizon = 2 * PRETRAIN_HORIZON + 3
    long = fc.zero_shot(history, "load", timestamp="ts", horizon=horizon, num_samples=SAMPLES, seed=5)
    one = fc.zero_shot(history, "load", timestamp="ts", num_samples=SAMPLES, seed=5)
    assert long.samples.shape == (SAMPLES, 1, horizon, 1) and len(long.timestamps[0]) == horizon
    np.testing.assert_allclose(long.samples[:, :, :PRETRAIN_HORIZON], one.samples)  # the first pass is the plain forecast
    median = np.median(one.samples[:, 0, :, 0], axis=0)  # the second pass reads the first one's median as history
    fed = pd.concat([history, pd.DataFrame({"ts": one.timestamps[0], "load": median})])
    second = fc.zero_shot(fed, "load", timestamp="ts", num_samples=SAMPLES, seed=6)
    np.testing.assert_allclose(long.samples[:, :, PRETRAIN_HORIZON : 2 * PRETRAIN_HORIZON], second.samples, rtol=1e-5)
    short = fc.zero_shot(history, "load", timestamp="ts", horizon=3, num_samples=SAMPLES, seed=5)
    np.testing.assert_allclose(short.samples, one.samples[:, :, :3])


def test_when_timestamps_are_integers_or_minutes_then_the_step_is_read_from_them(fc):
    steps = pd.DataFrame({"t": np.arange(100, 130), "y": np.sin(np.arange(30.0))})
    result = fc.zero_shot(steps, "y", timestamp="t", num_samples=4)
    assert list(result.timestamps[0][:2]) == [130, 131]
    minutes = hourly(30).assign(ts=pd.date_range("2024-01-01", periods=30, freq="5min"))
    result = fc.zero_shot(minutes, "load", timestamp="ts", num_samples=4)
    assert result.timestamps[0][0] == pd.Timestamp("2024-01-01 02:30")


@pytest.mark.parametrize("case, error, words", [
    ("missing_column", DataError, ("'lod'", "did you mean 'load'")),
    ("text_value", DataError, ("'load'", "non-numeric", "row 4", "'high'")),
    ("too_few_rows", DataError, ("the history has 5 row(s)", f"at least {2 * 4}")),
    ("all_missing", DataError, ("'load'", "0 observed value(s)", "leave that column out")),
    ("irregular", DataError, ("not evenly spaced", "resample")),
    ("horizon", SpecError, ("horizon", f"{MAX_PASSES * PRETRAIN_HORIZON}")),
])
def test_when_the_request_is_bad_then_the_error_names_the_column_row_and_fix(fc, case, error, words):
    history, target, options = hourly(40), "load", {}
    if case == "missing_column":
        target = "lod"
    elif case == "text_value":
        history = history.astype({"load": object})
        history.loc[4, "load"] = "high"
    elif case == "too_few_rows":
        history = history.head(5)
    elif case == "all_missing":
        history["load"] = np.nan
    elif case == "irregular":
        history = history.drop(index=[10, 11])
    else:
        options = {"horizon": MAX_PASSES * PRETRAIN_HORIZON + 1}
    with pytest.raises(error) as err:
        fc.zero_shot(history, target, timestamp="ts", **options)
    for word in words:
        assert word.lower() in str(err.value).lower(), (word, str(err.value))


def test_when_the_model_is_a_task_model_then_zero_shot_refuses_it(trained):
    fc = Forecaster.load(trained.model)
    with pytest.raises(SpecError, match="univariate pretrained model"):
        fc.zero_shot(hourly(40), "load", timestamp="ts")


def test_the_minimum_history_is_two_patches(fc):
    assert min_history(fc.model.cfg) == 2 * fc.model.cfg.patch_len
