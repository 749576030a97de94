"""The benchmark metric and the three reference predictors, scored on a small gamma = 4 cohort."""

from __future__ import annotations

import numpy as np

from tsloop.sim.tumour import DEATH_VOLUME, GrowthParams, mean_sd, reference_predictors, rmse_percent


def test_when_error_is_one_death_volume_then_rmse_percent_is_100():
    assert rmse_percent(np.zeros(4), np.full(4, DEATH_VOLUME)) == 100.0
    np.testing.assert_allclose(rmse_percent(np.zeros((3, 2)), np.array([[0, DEATH_VOLUME / 100]] * 3), axis=0), [0, 1])
    mean, sd = mean_sd([1.0, 2.0, 3.0])
    assert mean == 2.0 and sd == 1.0


def test_when_growth_law_is_fitted_then_pooled_parameters_are_plausible(tumour_bench):
    fit = GrowthParams.fit(tumour_bench.train)
    # one pooled law for heterogeneous patients, weighted by volume: close to, not at, the means
    assert abs(fit.rho) < 0.02
    assert abs(fit.beta_c - 0.028) < 0.015
    assert 0.1 < fit.radio_kill < 1.0  # alpha d + beta d^2 at d = 2 Gy


def test_when_reference_predictors_are_scored_then_floor_beats_fit_beats_persistence(tumour_bench):
    scores = reference_predictors(tumour_bench)
    floor, fit, naive = scores["true_model"], scores["growth_ls"], scores["persistence"]
    assert floor["one_step"] < fit["one_step"] < naive["one_step"]
    for family in ("sliding_treatment", "random_trajectories"):
        assert floor[family].shape == (5,)
        assert (floor[family] < fit[family]).all() and (fit[family] < naive[family]).all()
    assert floor["one_step"] < 0.1  # the noise (1 % a day) is all the floor cannot foresee
