"""Exogenous drivers and pre-drawn noise of the plant (tsloop/sim/plant/drivers.py)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from tsloop.sim.plant.config import ClusterParams, PlantConfig
from tsloop.sim.plant.drivers import (
    DEMAND_AR_SD, N_NORMAL, N_UNIFORM, WEATHER_SD, PlantNoise, calendar, calendar_features, draw_exog,
    draw_forecast, expected_demand, stationary_exog,
)

CFG = PlantConfig(series=3, steps=600, step_minutes=5)  # starts Monday 2024-01-01 00:00


def _params(series: int = 3, seed: int = 0) -> ClusterParams:
    return ClusterParams.draw(series, np.random.default_rng(seed))


def test_when_steps_pass_then_the_calendar_moves_through_hours_and_weekdays():
    per_day = 288  # 5-minute steps
    hour, dow = calendar(CFG, np.array([0, 12 * 14, 5 * per_day + 12, 7 * per_day]))
    assert hour.tolist() == [0.0, 14.0, 1.0, 0.0]
    assert dow.tolist() == [0, 0, 5, 0]  # Monday, Monday, Saturday, Monday again
    late = replace(CFG, start="2024-01-06 23:00")  # a Saturday night
    assert calendar(late, np.array([0, 12, 12 + per_day]))[1].tolist() == [5, 6, 0]


def test_when_calendar_features_are_read_then_they_lie_on_the_unit_circle_and_peak_at_6_am():
    t = np.arange(0, 2 * 288)
    f = calendar_features(CFG, t)
    assert np.allclose(f["hour_sin"] ** 2 + f["hour_cos"] ** 2, 1)
    assert np.allclose(f["dow_sin"] ** 2 + f["dow_cos"] ** 2, 1)
    assert t[np.argmax(f["hour_sin"][:288])] == 6 * 12


def test_when_the_weekend_comes_then_the_expected_demand_drops_by_its_weekly_factor():
    params = replace(_params(), growth_per_day=np.zeros(3))
    monday_noon, saturday_noon, sunday_noon = 144, 5 * 288 + 144, 6 * 288 + 144
    d = expected_demand(CFG, params, np.array([monday_noon, saturday_noon, sunday_noon]))
    assert d.shape == (3, 3)
    assert np.allclose(d[:, 1] / d[:, 0], 0.78) and np.allclose(d[:, 2] / d[:, 0], 0.72)
    assert np.allclose(d[:, 0] / params.base_rate, d[0, 0] / params.base_rate[0])  # same profile, own scale


def test_when_demand_grows_then_the_same_hour_a_week_later_is_higher_by_the_trend():
    params = replace(_params(), growth_per_day=np.full(3, 0.01))
    d = expected_demand(CFG, params, np.array([144, 144 + 7 * 288]))  # noon on days 0.5 and 7.5
    assert np.allclose(d[:, 1] / d[:, 0], (1 + 0.01 * 7.5) / (1 + 0.01 * 0.5))


def test_when_the_forecast_is_drawn_for_many_clusters_then_its_weather_has_the_stationary_spread():
    params = replace(_params(4000), climate_mean=np.zeros(4000))
    t = np.arange(50)
    hour, _ = calendar(CFG, t)
    weather = draw_forecast(CFG, params, t, np.random.default_rng(0)) - 5.0 * np.cos(2 * np.pi * (hour - 15) / 24)
    assert weather.std(axis=0) == pytest.approx(np.full(50, WEATHER_SD), rel=0.06)
    phi = CFG.decay(2 * 1440.0)  # an AR(1) with a two-day time constant
    assert np.corrcoef(weather[:, 0], weather[:, -1])[0, 1] == pytest.approx(phi ** 49, abs=0.02)


def test_when_no_bursts_or_faults_happen_then_demand_is_the_profile_times_its_wander():
    cfg = replace(CFG, burst_per_day=0.0, faults_per_day=0.0)
    params, t, rng = _params(), np.arange(100), np.random.default_rng(1)
    forecast = draw_forecast(cfg, params, t, rng)
    paths = draw_exog(cfg, params, t, stationary_exog(3, rng), forecast, rng)
    assert not paths.burst.any() and not paths.cooling_fault.any()
    assert np.allclose(paths.demand, expected_demand(cfg, params, t) * np.exp(paths.demand_ar))
    assert np.allclose(paths.outdoor_temp - paths.temp_forecast, paths.temp_err)


def test_when_bursts_are_frequent_then_each_fades_by_its_decay_between_onsets():
    cfg = replace(CFG, burst_per_day=50.0)
    params, t, rng = _params(), np.arange(400), np.random.default_rng(2)
    paths = draw_exog(cfg, params, t, stationary_exog(3, rng), draw_forecast(cfg, params, t, rng), rng)
    ratio = paths.burst[:, 1:] / np.where(paths.burst[:, :-1] > 0, paths.burst[:, :-1], np.nan)
    ratio = ratio[np.isfinite(ratio)]
    decay = cfg.decay(45.0)
    assert paths.burst.max() > 0.5
    assert np.all(ratio >= decay - 1e-12)  # a new onset only adds
    assert np.isclose(ratio, decay).mean() > 0.8  # most steps: no onset, the burst fades by the decay


def test_when_a_stationary_start_is_drawn_then_no_burst_or_fault_is_in_progress():
    start = stationary_exog(20_000, np.random.default_rng(3))
    assert not start.burst.any() and not start.cooling_fault.any()
    assert start.demand_ar.std() == pytest.approx(DEMAND_AR_SD, rel=0.03)


def test_when_noise_is_drawn_with_the_same_seed_then_it_is_the_same_and_windows_line_up():
    params = _params()
    a = PlantNoise.draw(CFG, params, np.random.default_rng(5))
    b = PlantNoise.draw(CFG, params, np.random.default_rng(5))
    assert np.array_equal(a.exog.demand, b.exog.demand) and np.array_equal(a.step.uniform, b.step.uniform)
    assert a.steps == CFG.steps and a.exog.demand.shape == (3, CFG.steps)
    assert a.step.normal.shape == (3, CFG.steps, N_NORMAL) and a.step.uniform.shape == (3, CFG.steps, N_UNIFORM)
    window = a.exog.window(100, 200)
    assert window.demand.shape == (3, 100)
    assert np.array_equal(window.state(0).burst, a.exog.state(100).burst)
    assert np.array_equal(a.step.window(100, 200).normal, a.step.normal[:, 100:200])
