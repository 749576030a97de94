"""Leakage detector: shifted copies of targets or covariates are flagged with the shift."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tsloop.data.readers import load_table, split_series
from tsloop.data.leakage import find_leaks
from tsloop.data.sources import load_citylearn2022
from tsloop.data.spec import TaskSpec


def leaks(spec: TaskSpec, frame) -> list[str]:
    return find_leaks(spec, split_series(spec, load_table(spec, frame))[0])


def test_when_citylearn_prediction_columns_are_covariates_then_each_is_flagged_with_its_shift(root):
    frame = load_citylearn2022(building=1, predictions=True)
    covariates = [c for c in frame.columns if "Radiation" in c or "Pricing" in c]
    spec = TaskSpec(target=["Equipment Electric Power [kWh]"], known_future=covariates, freq="1h",
                    context_length=168, horizon=24)
    found = leaks(spec, frame)
    assert len(found) == 9  # 6h/12h/24h predictions of diffuse, direct radiation and price
    assert any(
        "'24h Prediction Electricity Pricing [$/kWh]' equals known_future 'Electricity Pricing [$/kWh]' "
        "shifted by 24 step(s) (exactly" in w
        for w in found
    )


def test_when_a_covariate_is_a_shifted_copy_of_the_target_then_it_is_flagged(make_frame):
    frame = make_frame(n=500, past_exog=1, seed=3)
    frame["p0"] = frame["y0"].shift(-5)  # p0[t] = y0[t + 5]
    frame["noisy"] = frame["y0"].shift(-3) + np.random.default_rng(0).normal(scale=1e-4, size=500)
    spec = TaskSpec(target=["y0"], past_exog=["p0", "noisy"], freq="1h", context_length=24, horizon=6)
    found = leaks(spec, frame)
    assert any("past_exog 'p0' equals target 'y0' shifted by 5 step(s) (exactly" in w for w in found)
    assert any("'noisy' equals target 'y0' shifted by 3 step(s) (correlation " in w for w in found)


def test_when_a_known_future_column_lags_the_target_within_the_horizon_then_it_is_flagged(make_frame):
    frame = make_frame(n=500, seed=4)
    frame["lagged"] = frame["y0"].shift(2)
    spec = TaskSpec(target=["y0"], known_future=["lagged"], freq="1h", context_length=24, horizon=6)
    (message,) = leaks(spec, frame)
    assert "lagged by 2 step(s)" in message and "inside the horizon" in message
    assert not leaks(TaskSpec(target=["y0"], past_exog=["lagged"], freq="1h", context_length=24, horizon=6), frame)


def test_when_covariates_are_honest_then_nothing_is_flagged(root):
    frame = pd.read_csv(root / "ett" / "ETTh1.csv.gz")
    spec = TaskSpec(target=["OT"], past_exog=["HUFL", "HULL", "MUFL", "MULL", "LUFL", "LULL"], timestamp="date",
                    freq="1h", context_length=96, horizon=96)
    assert leaks(spec, frame) == []
