"""Derived event columns of the probe tasks: EPF spike threshold from train rows only, NAB windows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipelines.probe.events import nab_windows, price_spikes
from tsloop.data.paths import data_root
from tsloop.data.spec import TaskSpec


def epf_like(tmp_path, price: np.ndarray) -> TaskSpec:
    frame = pd.DataFrame({"date": pd.date_range("2020-01-01", periods=len(price), freq="h"), "OT": price,
                          "load": np.zeros(len(price))})
    frame.to_csv(tmp_path / "prices.csv", index=False)
    return TaskSpec.from_dict(dict(name="epf_like", data="prices.csv", format="wide",
                                   timestamp="date", freq="1h", target=["OT"], known_future=["load"],
                                   event=["spike"], context_length=8, horizon=4,
                                   split={"fractions": [0.7, 0.1, 0.2]}), base_dir=tmp_path)


def test_when_later_prices_are_all_high_then_the_spike_threshold_still_comes_from_train_rows(tmp_path):
    rng = np.random.default_rng(0)
    price = np.concatenate([rng.normal(50, 5, 700), np.full(300, 1000.0)])  # val/test: every row extreme
    frame, threshold = price_spikes(epf_like(tmp_path, price))
    assert threshold == pytest.approx(np.quantile(price[:700], 0.99))
    assert frame.spike[:700].mean() == pytest.approx(0.01, abs=0.002)
    assert frame.spike[700:].all()


@pytest.mark.skipif(not (data_root() / "nab").is_dir(), reason="shared NAB data not present")
def test_when_nab_windows_are_used_then_events_cover_each_labelled_window():
    frame = nab_windows("realKnownCause/machine_temperature_system_failure")
    runs = np.diff(np.concatenate([[0], frame.event.to_numpy(), [0]]))
    assert (runs == 1).sum() == 4  # four labelled windows, each one contiguous run
    assert frame.event[frame.timestamp == pd.Timestamp("2013-12-11 12:00")].item() == 1.0
    assert frame.event[frame.timestamp == pd.Timestamp("2014-01-01 12:00")].item() == 0.0
