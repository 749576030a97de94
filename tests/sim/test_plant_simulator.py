"""The plant's two-phase contract: seeded, exact replay, common random numbers, valid plans."""

from __future__ import annotations

import numpy as np
import pytest

from tsloop.errors import PlanError, SpecError
from tsloop.sim.plant import CONTROLS, EVENTS, TARGETS, Plan, PlantConfig, PlantSimulator


def test_when_same_seed_then_identical_data_and_other_seed_differs():
    cfg = PlantConfig(series=2, steps=400)
    _, a = PlantSimulator(cfg, seed=5).simulate()
    _, b = PlantSimulator(cfg, seed=5).simulate()
    _, c = PlantSimulator(cfg, seed=6).simulate()
    assert a.equals(b)
    assert not np.array_equal(a.targets["latency_p95"], c.targets["latency_p95"])


def test_when_logged_plan_is_replayed_then_trajectory_is_reproduced_exactly(plant):
    sim, noise, logged = plant
    replay = sim.run(noise, logged.plan)
    assert replay.equals(logged)
    assert set(logged.channels()) == {*TARGETS, *EVENTS, *CONTROLS}


def test_when_run_from_a_saved_state_then_it_continues_the_logged_trajectory_exactly(plant):
    sim, noise, logged = plant
    t0 = 1234
    state = sim.state_at(noise, t0)
    assert state.t == t0
    rest = sim.run(noise, start=state)
    for name, values in rest.channels().items():
        np.testing.assert_array_equal(values, logged.channels()[name][:, t0:])


def test_when_plans_differ_only_from_step_k_then_trajectories_agree_before_k(plant):
    sim, noise, logged = plant
    k = 1500
    replicas = logged.controls["replicas"].copy()
    replicas[:, k:] = 16
    other = sim.run(noise, Plan(replicas=replicas))
    before = slice(0, k)
    for name in TARGETS:
        np.testing.assert_array_equal(other.targets[name][:, before], logged.targets[name][:, before])
    assert not np.array_equal(other.targets["cpu_util"][:, k:], logged.targets["cpu_util"][:, k:])
    # the demand and weather it met are the same draws (common random numbers)
    np.testing.assert_array_equal(other.exog.demand, logged.exog.demand)


def test_when_a_plan_leaves_a_control_out_then_the_operator_still_sets_it(plant):
    sim, noise, _ = plant
    run = sim.run(noise, Plan(cooling_setpoint=20.0), steps=500)
    assert (run.controls["cooling_setpoint"] == 20.0).all()
    assert len(np.unique(run.controls["replicas"])) > 1  # the operator keeps scaling


@pytest.mark.parametrize(
    "plan, fragment",
    [
        (Plan(replicas=17), "replicas"),
        (Plan(replicas=2.5), "integer"),
        (Plan(cooling_setpoint=40.0), "cooling_setpoint"),
        (Plan(rate_limit=np.nan), "rate_limit"),
        (Plan(replicas=np.ones(7)), "shape"),
    ],
)
def test_when_plan_is_invalid_then_plan_error_names_the_column(plant, plan, fragment):
    sim, noise, _ = plant
    with pytest.raises(PlanError, match=fragment):
        sim.run(noise, plan, steps=10)


def test_when_config_is_invalid_then_spec_error():
    with pytest.raises(SpecError, match="series"):
        PlantConfig(series=0)
    with pytest.raises(SpecError, match="step_minutes"):
        PlantConfig(step_minutes=7)
    with pytest.raises(SpecError, match="confounding"):
        PlantConfig(confounding=-1)


def test_when_run_past_the_scenario_end_then_plan_error(plant):
    sim, noise, _ = plant
    with pytest.raises(PlanError, match="steps"):
        sim.run(noise, start=sim.state_at(noise, 2990), steps=20)
