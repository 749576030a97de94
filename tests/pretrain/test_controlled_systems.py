"""The controlled systems' recorded effect is what re-simulating the same unit under both plans gives."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from pipelines.pretrain.controlled_systems import (
    EFFECT_HORIZON,
    controlled_frame,
    draw_params,
    rerun,
    simulate,
    step_effect,
)
from tsloop.sim.controlled import ControlledConfig, true_effect


def test_when_a_logged_unit_is_rerun_under_its_own_controls_then_the_log_comes_back():
    rng = np.random.default_rng(0)
    for _ in range(5):
        log = simulate(draw_params(rng), 300, rng)
        np.testing.assert_array_equal(rerun(log, 100, log.u[100:150]), log.y[100:150])


def test_when_both_plans_are_simulated_then_the_recorded_effect_is_their_difference():
    frame = controlled_frame(12, 400, seed=5)
    children = np.random.SeedSequence(5).spawn(12)
    on, off = np.ones(EFFECT_HORIZON), np.zeros(EFFECT_HORIZON)
    for i, (series, rows) in enumerate(frame.groupby("series_id", sort=True)):
        rng = np.random.default_rng(children[i])
        params = draw_params(rng)
        log = simulate(params, 400, rng)
        np.testing.assert_array_equal(rows["y"].to_numpy(), log.y)  # the frame holds this very log
        recorded = rows["effect"].iloc[0]
        for t0 in (50, 200, 376):
            direct = (rerun(log, t0, on) - rerun(log, t0, off)).mean()
            assert np.isclose(direct, recorded, atol=1e-12), (series, t0, direct, recorded)


def test_when_a_unit_has_no_delay_then_its_effect_is_the_library_controlled_systems():
    rng = np.random.default_rng(1)
    for _ in range(5):
        params = replace(draw_params(rng), lag=0)
        config = ControlledConfig(series=1, beta=params.beta, rho=params.rho)
        expected = true_effect(config, np.zeros(EFFECT_HORIZON), np.ones(EFFECT_HORIZON))[0]
        assert np.isclose(step_effect(params), expected)


def test_when_the_operator_reacts_then_the_logged_control_follows_y_whatever_the_effect():
    rng = np.random.default_rng(2)
    params = replace(draw_params(rng), beta=0.0, gain=4.0, explore=0.02, binary=True, lag=0)
    log = simulate(params, 5000, rng)
    assert np.corrcoef(log.y[:-1], log.u[1:])[0, 1] > 0.3 and step_effect(params) == 0.0  # confounded, no effect
    assert set(np.unique(log.u)) == {0.0, 1.0}


def test_when_units_are_drawn_then_unit_i_does_not_depend_on_how_many():
    few, many = controlled_frame(2, 100, seed=3), controlled_frame(5, 100, seed=3)
    pd.testing.assert_frame_equal(few, many[many["series_id"].isin(few["series_id"].unique())].reset_index(drop=True))
