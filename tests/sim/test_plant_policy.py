"""Plans and the logging operator (tsloop/sim/plant/policy.py): what it reacts to, and how strongly."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from tsloop.sim.plant.config import ClusterParams, PlantConfig
from tsloop.sim.plant.drivers import ExogState
from tsloop.sim.plant.physics import PlantState
from tsloop.sim.plant.policy import NO_LIMIT, REVERT_P, Plan, capacity_schedule, operator_step

CFG = PlantConfig(series=2, steps=100)


def _params(capacity: float = 50.0) -> ClusterParams:
    return replace(ClusterParams.draw(2, np.random.default_rng(0)), capacity=np.full(2, capacity))


def _state(cpu=(0.6, 0.6), latency=(100.0, 100.0), inlet=(22.0, 22.0), drift=(0.0, 0.0), setpoint=(22.0, 22.0),
           limit_on=(0.0, 0.0)) -> PlantState:
    """Two clusters; a calm plant unless told otherwise."""
    a = np.asarray
    zeros = np.zeros(2)
    return PlantState(t=0, queue=zeros, inlet=a(inlet, float), replicas_warm=np.full(2, 4.0), seen_cpu=a(cpu, float),
                      seen_latency=a(latency, float), seen_inlet=a(inlet, float), slo_count=zeros, trip_count=zeros,
                      drift=a(drift, float), setpoint=a(setpoint, float), limit_on=a(limit_on, float),
                      exog=ExogState(zeros, zeros, zeros, zeros))


HOT = {"cpu": (0.6, 0.99), "latency": (100.0, 750.0), "inlet": (22.0, 31.0)}  # cluster 1 overloaded, hot
MIDDLE = np.full((2, 4), 0.5)  # uniforms: no exploration, no revert


def _step(confounding: float, state: PlantState, uniform=MIDDLE, scheduled=(4.0, 4.0)) -> dict[str, np.ndarray]:
    return operator_step(replace(CFG, confounding=confounding), _params(), state, np.asarray(scheduled), uniform)


def test_when_the_operator_is_blind_then_a_hot_and_a_calm_cluster_get_the_same_controls():
    out = _step(0.0, _state(**HOT))
    for name in ("replicas", "cooling_setpoint", "rate_limit"):
        assert out[name][0] == out[name][1], name


def test_when_the_operator_reacts_then_an_overloaded_hot_cluster_scales_up_cools_and_limits():
    out = _step(1.0, _state(**HOT))
    assert out["replicas"].tolist() == [4.0, 6.0]  # two pods at once when very hot
    assert out["cooling_setpoint"].tolist() == [22.0, 21.0]
    assert out["limit_on"].tolist() == [0.0, 1.0]
    assert out["rate_limit"][0] == NO_LIMIT and out["rate_limit"][1] == np.round(0.9 * 6 * 50.0, -1)


def test_when_an_idle_cluster_is_seen_then_the_reactive_operator_scales_it_down_within_bounds():
    out = _step(1.0, _state(cpu=(0.05, 0.05)), scheduled=(4.0, 1.0))
    assert out["replicas"].tolist() == [3.0, 1.0]  # never below one pod


def test_when_the_revert_draw_comes_then_overrides_step_back_towards_normal():
    uniform = MIDDLE.copy()
    uniform[:, 1] = REVERT_P / 2
    out = _step(0.0, _state(drift=(2.0, -3.0), setpoint=(19.0, 25.0)), uniform=uniform)  # blind: no reaction
    assert out["replicas"].tolist() == [5.0, 2.0]  # scheduled 4 + drift 2 - 1, 4 - 3 + 1
    assert out["cooling_setpoint"].tolist() == [20.0, 24.0]


@pytest.mark.parametrize("confounding, expected", [(0.0, 4.0), (1.0, 3.0), (5.0, 3.0)])
def test_when_the_operator_is_blind_then_its_schedule_keeps_more_headroom(confounding, expected):
    demand = np.full((2, 3), 100.0)  # req/s, against 50 req/s per pod
    replicas = capacity_schedule(replace(CFG, confounding=confounding), demand, _params())
    assert np.all(replicas == expected)  # 50 % target utilisation when blind, 72 % when reactive


def test_when_demand_is_extreme_then_the_schedule_stays_within_the_replica_bounds():
    demand = np.array([[0.0, 1e6], [1.0, 10.0]])
    assert capacity_schedule(CFG, demand, _params()).tolist() == [[1.0, 16.0], [1.0, 1.0]]


def test_when_a_plan_is_windowed_then_time_axes_are_sliced_and_scalars_kept():
    plan = Plan(replicas=np.arange(1, 11), cooling_setpoint=20.0)
    part = plan.window(2, 5)
    assert part.replicas.tolist() == [3, 4, 5] and part.cooling_setpoint == 20.0 and part.rate_limit is None
    resolved = part.resolve(series=2, horizon=3)
    assert resolved["replicas"].shape == (2, 3) and resolved["rate_limit"] is None
    assert np.all(resolved["cooling_setpoint"] == 20.0)
