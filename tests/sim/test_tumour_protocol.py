"""The counterfactual protocol: cohorts, common random numbers, one-step and multi-step sets."""

from __future__ import annotations

import numpy as np
import pytest

from tsloop.errors import SpecError
from tsloop.sim.tumour import DEATH_VOLUME, make_cohort, simulate_factual
from tsloop.sim.tumour.model import diameter
from tsloop.sim.tumour.protocol import TREATMENTS, counterfactual_rollout, sliding_plans


def test_when_same_seed_then_cohort_is_identical_and_matches_the_benchmark(tumour_bench):
    alone = make_cohort("test_one_step", 4, 10, n=150)
    np.testing.assert_array_equal(alone.factual.volume, tumour_bench.test_one_step.factual.volume)
    other = make_cohort("test_one_step", 4, 11, n=150)
    assert not np.array_equal(other.patients.initial_volume, alone.patients.initial_volume)


def test_when_factual_treatments_are_assigned_back_then_trajectory_is_reproduced(tumour_bench):
    c = tumour_bench.train
    plan = np.stack([c.factual.chemo, c.factual.radio], -1)
    replay = simulate_factual(c.patients, c.noise, gamma=4, plan=plan)
    np.testing.assert_array_equal(replay.volume, c.factual.volume)


def test_when_simulated_then_volumes_stay_in_range_and_end_at_death_or_recovery(tumour_bench):
    f = tumour_bench.train.factual
    observed = f.volume[~np.isnan(f.volume)]
    assert observed.min() >= 0 and observed.max() <= DEATH_VOLUME
    assert f.length.max() == 60 and f.length.min() >= 2
    rows = np.arange(len(f.length))
    ended = f.length < 60
    np.testing.assert_array_equal(ended, f.death | f.recovery)
    last = f.volume[rows, f.length - 1]
    assert (last[f.death] == DEATH_VOLUME).all() and (last[f.recovery] == 0).all()
    assert np.isnan(f.volume[rows[ended], f.length[ended]]).all()


def test_when_gamma_rises_then_treatment_follows_tumour_size_more_strongly():
    rates, gaps = [], []
    for gamma in (0, 2, 4):
        f = make_cohort("train", gamma, 10, n=1500).factual
        alive = ~np.isnan(f.volume)
        d = diameter(f.volume)
        treated = (f.chemo > 0) & alive
        rates.append(f.chemo[alive].mean())
        gaps.append(d[treated].mean() - d[alive & ~treated].mean())
    assert abs(rates[0] - 0.5) < 0.02  # gamma = 0: unconfounded fair coins
    assert gaps[0] < 0.1 < gaps[1] < gaps[2]  # confounding: bigger tumours are treated more
    # most tumours are below D_max / 2 = 6.5 cm, so the overall rate falls as gamma sharpens
    assert rates[0] > rates[1] > rates[2]


def test_when_one_step_set_is_built_then_it_has_four_rows_per_patient_day(tumour_bench):
    f, rows = tumour_bench.test_one_step.factual, tumour_bench.one_step
    assert len(rows.target) == 4 * (f.length - 1).sum()
    assert rows.factual.sum() == (f.length - 1).sum()
    np.testing.assert_array_equal(rows.target[rows.factual], f.volume[rows.patient[rows.factual], rows.day[rows.factual] + 1])
    options = np.stack([rows.chemo, rows.radio], -1).reshape(-1, 4, 2)
    assert (options == TREATMENTS).all()
    # radio + chemo shrinks more than nothing, on the same noise
    none, both = rows.target[0::4], rows.target[3::4]
    assert (both <= none).all()


@pytest.mark.parametrize("family", ["sliding_treatment", "random_trajectories"])
def test_when_multi_step_set_is_built_then_ten_plans_per_origin_with_five_targets(tumour_bench, family):
    f, rows = tumour_bench.test_multi_step.factual, tumour_bench.multi_step[family]
    assert rows.plan.shape == (10 * (f.length - 1).sum(), 5, 2)
    assert rows.target.shape == (len(rows.plan), 5)
    assert rows.target.min() >= 0 and rows.target.max() <= DEATH_VOLUME
    if family == "sliding_treatment":
        np.testing.assert_array_equal(rows.plan[:10], sliding_plans())


def test_when_a_plan_repeats_the_factual_treatments_then_the_counterfactual_is_the_factual(tumour_bench):
    c = tumour_bench.test_multi_step
    f = c.factual
    patient = np.nonzero(f.length == 60)[0][:20]
    origin = np.full(len(patient), 20)
    days = origin[:, None] + 1 + np.arange(5)  # t+1..t+5
    plans = np.stack([f.chemo[patient[:, None], days], f.radio[patient[:, None], days]], -1)
    same = counterfactual_rollout(c, patient, origin, plans)
    np.testing.assert_array_equal(same, f.volume[patient[:, None], days + 1])
    other = counterfactual_rollout(c, patient, origin, 1.0 - plans)
    assert not np.array_equal(other, same)


def test_when_cohort_options_are_invalid_then_spec_error():
    with pytest.raises(SpecError, match="cohort"):
        make_cohort("test", 2, 10)
    with pytest.raises(SpecError, match="gamma"):
        make_cohort("train", -1, 10)
    with pytest.raises(SpecError, match="patients"):
        make_cohort("train", 1, 10, n=0)
