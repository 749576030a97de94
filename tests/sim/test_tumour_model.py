"""The tumour model's constants, patient sampling and growth step (Geng et al. 2017)."""

from __future__ import annotations

import numpy as np

from tsloop.sim.tumour.model import (
    CARRYING_CAPACITY,
    DEATH_VOLUME,
    Patients,
    diameter,
    grow,
    treatment_probability,
    volume,
)


def test_when_constants_are_derived_then_they_match_the_papers():
    assert abs(DEATH_VOLUME - 1150.35) < 0.01
    assert abs(CARRYING_CAPACITY - volume(30.0)) < 1e-9
    np.testing.assert_allclose(diameter(volume(np.array([0.3, 5.0, 13.0]))), [0.3, 5.0, 13.0])


def test_when_patients_are_drawn_then_parameters_follow_the_published_law():
    p = Patients.draw(20_000, np.random.default_rng(0))
    assert (p.alpha > 0).all() and (p.rho > 0).all()
    np.testing.assert_allclose(p.beta, p.alpha / 10)
    assert set(np.unique(p.patient_type)) == {1, 2, 3}
    d0 = diameter(p.initial_volume)
    assert d0.min() >= 0.3 - 1e-9 and d0.max() <= 13.0 + 1e-9
    assert d0[p.stage == 0].max() <= 5.0 + 1e-9  # stage I is truncated at 5 cm
    assert np.corrcoef(p.alpha, p.rho)[0, 1] > 0.5  # correlated (0.87 before truncation)
    # type 3 gets +10 % beta_c, type 1 gets +10 % alpha
    assert abs(p.beta_c[p.patient_type == 3].mean() - 1.1 * 0.028) < 5e-4
    assert abs(p.beta_c[p.patient_type == 2].mean() - 0.028) < 5e-4
    assert p.alpha[p.patient_type == 1].mean() > p.alpha[p.patient_type == 2].mean()


def test_when_treated_then_tumour_shrinks_and_absorbing_states_stay():
    p = Patients.draw(3, np.random.default_rng(1))
    vol = np.array([100.0, DEATH_VOLUME, 0.0])
    zero = np.zeros(3)
    untreated = grow(p, vol, zero, zero, zero, None)
    treated = grow(p, vol, np.full(3, 5.0), np.ones(3), zero, None)
    assert treated[0] < vol[0] < untreated[0]
    assert untreated[1] == DEATH_VOLUME and treated[2] == 0.0


def test_when_gamma_is_zero_then_policy_is_a_fair_coin_and_otherwise_follows_size():
    d = np.array([1.0, 6.5, 12.0])
    np.testing.assert_allclose(treatment_probability(0.0, d), 0.5)
    p = treatment_probability(4.0, d)
    assert p[0] < 0.5 < p[2] and abs(p[1] - 0.5) < 1e-12
