"""The benchmark's protocol windows match the published TSLib arithmetic and scaler."""

import numpy as np
import pandas as pd
import pytest

from pipelines.bench.data import LEVELS, SUITES, metrics, windows
from tsloop.data.task import load_task


def test_when_epf_np_is_windowed_then_counts_and_scaling_match_tslib():
    task = load_task(SUITES["epf_np"].task)
    test = windows(task, "test")
    raw = pd.read_csv(task.spec.resolve_data())
    n = len(raw)
    num_train, num_test = int(n * 0.7), int(n * 0.2)
    assert len(test["start"]) == num_test + 168 - 168 - 24 + 1  # TSLib Dataset_Custom.__len__ of the test part
    values = raw[[" Grid load forecast", " Wind power forecast", "OT"]].to_numpy()
    scaled = (values - values[:num_train].mean(0)) / values[:num_train].std(0)  # sklearn StandardScaler
    first = test["start"][0]
    np.testing.assert_allclose(test["past_target"][0, :, 0], scaled[first : first + 168, 2], atol=1e-4)
    np.testing.assert_allclose(test["future_known"][0], scaled[first + 168 : first + 192, :2], atol=1e-4)


def test_when_quantiles_are_exact_then_crps_is_zero_and_cover_is_one():
    truth = np.random.default_rng(0).normal(size=(5, 4, 2))
    out = metrics(truth, truth, np.repeat(truth[..., None], len(LEVELS), -1))
    assert out["mse"] == 0 and out["mae"] == 0 and out["crps"] == pytest.approx(0) and out["cover80"] == 1
