"""The plant's oracle: predictive paths from a state under plans, and its CRPS as a floor."""

from __future__ import annotations

import numpy as np

from tsloop.metrics import crps_ensemble
from tsloop.sim.plant import TARGETS, Plan, climatology_paths, oracle_crps, states_at


def test_when_rolled_out_then_paths_have_plan_path_cluster_step_shape(plant):
    sim, noise, _ = plant
    t0, horizon = 2000, 24
    state = sim.state_at(noise, t0)
    forecast = noise.exog.temp_forecast[:, t0 : t0 + horizon]
    fixed = Plan(replicas=16, cooling_setpoint=18.0)
    logged_policy, planned = sim.rollout(state, [None, fixed], forecast, n_paths=32, seed=3)
    assert planned.targets["cpu_util"].shape == (32, 4, horizon)
    assert (planned.controls["replicas"] == 16).all()
    # more capacity and colder air than the operator's typical choice, on the same draws
    assert planned.targets["inlet_temp"].mean() < logged_policy.targets["inlet_temp"].mean()
    assert (planned.targets["cpu_util"] <= logged_policy.targets["cpu_util"] + 0.05).mean() > 0.9


def test_when_rollout_is_repeated_with_a_seed_then_paths_are_identical(plant):
    sim, noise, _ = plant
    state = sim.state_at(noise, 500)
    forecast = noise.exog.temp_forecast[:, 500:512]
    a = sim.rollout(state, [None], forecast, n_paths=8, seed=1)[0]
    b = sim.rollout(state, [None], forecast, n_paths=8, seed=1)[0]
    for name in TARGETS:
        np.testing.assert_array_equal(a.targets[name], b.targets[name])


def test_when_states_are_taken_in_one_pass_then_they_equal_separate_runs(plant):
    sim, noise, _ = plant
    one_pass = states_at(sim, noise, [900, 300])
    for t0, state in zip([900, 300], one_pass):
        direct = sim.state_at(noise, t0)
        assert state.t == t0
        np.testing.assert_array_equal(state.queue, direct.queue)
        np.testing.assert_array_equal(state.inlet, direct.inlet)


def test_when_scored_then_oracle_crps_beats_a_naive_forecaster(plant):
    sim, noise, logged = plant
    # Queue depth, latency and errors are heavy-tailed (a burst overloads a cluster), so the
    # oracle wins on average over many origins rather than at each one.
    origins, horizon, paths = list(range(400, 2900, 125)), 24, 32
    oracle = oracle_crps(sim, noise, origins, horizon, n_paths=paths, seed=0)
    rng = np.random.default_rng(0)
    for name in TARGETS:
        naive = np.mean(
            [
                crps_ensemble(
                    logged.targets[name][:, t0 : t0 + horizon],
                    climatology_paths(logged.targets[name][:, t0 - 288 : t0], horizon, paths, rng),
                ).mean()
                for t0 in origins
            ]
        )
        assert oracle[name] < naive, name


def test_when_a_plan_is_scored_then_truth_is_its_counterfactual_run(plant):
    sim, noise, _ = plant
    plan = Plan(replicas=12, cooling_setpoint=20.0, rate_limit=5000.0)
    scores = oracle_crps(sim, noise, [1500], 12, plan=plan, n_paths=32)
    assert set(scores) == set(TARGETS) and all(np.isfinite(v) and v >= 0 for v in scores.values())
