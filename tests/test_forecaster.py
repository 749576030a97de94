"""The Python API on a tiny trained plant model: forecast, what-if, plan errors, save/load."""

import numpy as np
import pandas as pd
import pytest

from tsloop.errors import PlanError
from tsloop.forecaster import Forecaster
from tests.conftest import CONTEXT, HORIZON


@pytest.fixture(scope="module")
def forecaster(trained):
    return Forecaster.load(trained.model)


@pytest.fixture(scope="module")
def request_frames(trained):
    """History (last CONTEXT rows before the origin) and future (logged plan) of both clusters."""
    frame = trained.task.frame
    spec = Forecaster.load(trained.model).spec
    t0 = 1000
    groups = [g for _, g in frame.groupby("series", sort=True)]
    history = pd.concat([g.iloc[t0 - CONTEXT : t0] for g in groups], ignore_index=True)
    keep = ["timestamp", "series", *spec.known_future, *spec.intervention]
    future = pd.concat([g.iloc[t0 : t0 + HORIZON][keep] for g in groups], ignore_index=True)
    return history, future


def test_when_forecasting_then_quantiles_are_ordered_and_events_are_probabilities(forecaster, request_frames):
    result = forecaster.forecast(*request_frames, num_samples=64, seed=0)
    assert result.samples.shape == (64, 2, HORIZON, len(forecaster.spec.target))
    assert np.isfinite(result.samples).all()
    q = np.stack([result.quantile(level) for level in (0.1, 0.5, 0.9)])
    assert (np.diff(q, axis=0) >= 0).all()
    assert ((result.event_prob >= 0) & (result.event_prob <= 1)).all()
    table = result.to_frame()
    assert set(table["channel"]) == set(forecaster.spec.target) | set(forecaster.spec.event)
    assert len(table) == 2 * HORIZON * (len(forecaster.spec.target) + len(forecaster.spec.event))


def test_when_seed_is_the_same_then_forecast_is_identical(forecaster, request_frames):
    a = forecaster.forecast(*request_frames, num_samples=16, seed=5)
    b = forecaster.forecast(*request_frames, num_samples=16, seed=5)
    c = forecaster.forecast(*request_frames, num_samples=16, seed=6)
    assert np.array_equal(a.samples, b.samples)
    assert not np.array_equal(a.samples, c.samples)


def test_when_a_plan_equals_the_logged_future_then_whatif_gives_the_plain_forecast(forecaster, request_frames):
    history, future = request_frames
    plain = forecaster.forecast(history, future, num_samples=32, seed=1)
    bigger = future.assign(replicas=np.minimum(future["replicas"] + 4, 16))
    answer = forecaster.whatif(history, {"logged": future, "bigger": bigger}, num_samples=32, seed=1,
                               objective="mean:latency_p95")
    assert np.array_equal(answer.forecasts["logged"].samples, plain.samples)
    assert np.array_equal(answer.forecasts["logged"].event_prob, plain.event_prob)
    assert not np.array_equal(answer.forecasts["bigger"].samples, plain.samples)
    effects = answer.effects_frame()
    assert list(effects["plan_a"]) == ["logged", "logged"] and list(effects["plan_b"]) == ["bigger", "bigger"]
    assert effects["prob_b_better"].between(0, 1).all()
    assert "P(bigger better)" in answer.summary()
    mask = answer.forecasts["bigger"].control_mask  # the plan sets every intervention at every step
    assert mask.shape == (2, HORIZON, len(forecaster.spec.intervention)) and mask.all()


def test_when_two_plans_are_identical_then_effect_is_exactly_zero(forecaster, request_frames):
    history, future = request_frames
    answer = forecaster.whatif(history, {"a": future, "b": future.copy()}, num_samples=32, seed=2)
    for effect in (e for effects in answer.effects.values() for e in effects):
        assert effect.mean == 0.0 and effect.prob_b_better == 0.5


def test_when_a_plan_misses_steps_then_plan_error_names_plan_and_timestamp(forecaster, request_frames):
    history, future = request_frames
    short = future.drop(index=[3])  # cluster_00 loses its 4th step
    with pytest.raises(PlanError) as err:
        forecaster.whatif(history, {"ok": future, "short": short})
    message = str(err.value)
    assert "'short'" in message and str(future.loc[3, "timestamp"])[:16] in message


def test_when_a_plan_has_an_unknown_channel_then_the_closest_name_is_suggested(forecaster, request_frames):
    history, future = request_frames
    typo = future.rename(columns={"replicas": "replica"})
    with pytest.raises(PlanError, match="replica.*Did you mean 'replicas'"):
        forecaster.whatif(history, {"ok": future, "typo": typo})


def test_when_a_plan_is_out_of_range_then_plan_error_names_bounds(forecaster, request_frames):
    history, future = request_frames
    huge = future.assign(replicas=40)
    with pytest.raises(PlanError, match=r"(?s)'huge'.*replicas.*40.*16"):
        forecaster.whatif(history, {"ok": future, "huge": huge})


def test_when_only_one_plan_is_given_then_whatif_refuses(forecaster, request_frames):
    history, future = request_frames
    with pytest.raises(PlanError, match="at least two plans"):
        forecaster.whatif(history, {"only": future})


def test_when_saved_and_loaded_then_predictions_are_identical(forecaster, request_frames, tmp_path):
    path = forecaster.save(tmp_path / "copy.pt")
    again = Forecaster.load(path)
    a = forecaster.forecast(*request_frames, num_samples=16, seed=3)
    b = again.forecast(*request_frames, num_samples=16, seed=3)
    assert np.array_equal(a.samples, b.samples)


def test_when_sampling_then_paths_stay_in_the_widened_train_range(forecaster, request_frames):
    result = forecaster.forecast(*request_frames, num_samples=256, seed=7)
    low, high = forecaster.scaler.plausible_range(np.arange(2), "target", forecaster.range_margin)
    assert np.isfinite(low).all() and np.isfinite(high).all()
    assert (result.samples >= low[None, :, None]).all() and (result.samples <= high[None, :, None]).all()


def test_when_fit_is_given_a_data_file_then_it_trains_on_that_file(tiny_task, tmp_path):
    copy = tmp_path / "elsewhere.parquet"
    tiny_task.frame.to_parquet(copy, index=False)
    fitted = Forecaster.fit(copy, tiny_task.path, preset="tiny", out_dir=tmp_path / "fit", train_options={
        "max_epochs": 1, "limit_train_batches": 2, "limit_val_batches": 1, "batch_size": 16, "train_stride": 8,
        "progress_bar": False})
    assert fitted.spec.data == str(copy.resolve())
    assert (tmp_path / "fit" / "model.pt").is_file() and fitted.meta["run_id"]


def test_when_a_model_is_saved_then_its_clipping_margin_travels_with_it(forecaster, tmp_path):
    forecaster.range_margin, saved = None, forecaster.range_margin
    try:
        assert Forecaster.load(forecaster.save(tmp_path / "m.pt")).range_margin is None
    finally:
        forecaster.range_margin = saved
