"""Physical sanity of the plant, its operator's confounding, and its event rate."""

from __future__ import annotations

import numpy as np

from tsloop.sim.plant import Plan, PlantConfig, PlantSimulator
from tsloop.sim.plant.config import ClusterParams
from tsloop.sim.plant.physics import latency_p95_ms


def test_when_simulated_then_bounded_channels_stay_in_range(plant):
    _, _, logged = plant
    t = logged.targets
    assert ((t["cpu_util"] >= 0) & (t["cpu_util"] <= 1)).all()
    assert ((t["error_rate"] >= 0) & (t["error_rate"] <= 1)).all()
    assert (t["queue_depth"] >= 0).all() and (t["latency_p95"] > 0).all() and (t["power_kw"] > 0).all()
    assert all(np.isfinite(v).all() for v in logged.channels().values())
    assert set(np.unique(logged.controls["replicas"])) <= set(range(1, 17))


def test_when_replicas_grow_at_fixed_load_then_latency_formula_never_rises():
    p = ClusterParams.draw(1, np.random.default_rng(0))
    replicas = np.arange(1.0, 17.0)
    offered = np.full_like(replicas, 0.9 * p.capacity[0])  # one replica's worth of load, 90 %
    latency, queue = latency_p95_ms(p.take(np.zeros(16, int)), offered, p.capacity[0], replicas, np.zeros(16))
    assert (np.diff(latency) <= 0).all() and (np.diff(queue) <= 0).all()


def test_when_replicas_grow_with_the_same_noise_then_latency_never_rises(plant):
    sim, noise, _ = plant
    runs = [
        sim.run(noise, Plan(replicas=r, cooling_setpoint=20.0, rate_limit=5000.0), steps=1500).targets["latency_p95"]
        for r in (4, 8, 12, 16)
    ]
    for fewer, more in zip(runs, runs[1:]):
        assert (more <= fewer * (1 + 1e-12)).all()
        assert more.mean() < fewer.mean()


def test_when_setpoint_is_lowered_then_inlet_cools_with_a_lag(plant):
    sim, noise, _ = plant
    state = sim.state_at(noise, 1000)
    warm = sim.run(noise, Plan(replicas=8, cooling_setpoint=24.0, rate_limit=5000.0), start=state, steps=120)
    cool = sim.run(noise, Plan(replicas=8, cooling_setpoint=18.0, rate_limit=5000.0), start=state, steps=120)
    gap = warm.targets["inlet_temp"] - cool.targets["inlet_temp"]  # (S, 120)
    tau_steps = sim.params.thermal_tau_min / sim.config.step_minutes
    settled = gap[np.arange(len(gap)), np.minimum(np.ceil(4 * tau_steps).astype(int), 119)]
    assert (settled > 3.0).all()  # a 6 degC lower setpoint ends several degC cooler
    assert (gap[:, 0] < 0.35 * settled).all()  # but not at once: the room has thermal mass
    assert (gap[:, 1] > gap[:, 0]).all()


def test_when_operator_is_confounded_then_it_scales_up_after_high_utilisation():
    def scale_up_gap(confounding: float) -> float:
        sim = PlantSimulator(PlantConfig(series=4, steps=3000, confounding=confounding), seed=2)
        _, logged = sim.simulate()
        cpu, replicas = logged.targets["cpu_util"][:, :-1], logged.controls["replicas"]
        up = np.diff(replicas, axis=1) > 0
        return float(cpu[up].mean() - cpu[~up].mean())

    assert scale_up_gap(0.0) < 0.05  # moves unrelated to what it sees
    assert scale_up_gap(2.0) > 0.15  # scale-ups follow hot clusters: the logs are confounded


def test_when_logged_with_default_confounding_then_events_are_rare_but_present():
    sim = PlantSimulator(PlantConfig(series=8, steps=4000), seed=0)
    _, logged = sim.simulate()
    slo, trip = logged.events["slo_breach"], logged.events["thermal_trip"]
    rate = np.maximum(slo, trip).mean()
    assert 0.005 <= rate <= 0.03
    assert slo.mean() > 0.001 and trip.mean() > 0.0005


def test_when_slo_breach_fires_then_it_is_the_nth_consecutive_breaching_step(plant):
    sim, _, logged = plant
    n, slo = sim.config.slo_steps, sim.config.slo_ms
    above = logged.targets["latency_p95"] > slo
    s, t = np.nonzero(logged.events["slo_breach"])
    assert len(t) > 0
    for si, ti in zip(s, t):
        assert above[si, ti - n + 1 : ti + 1].all() and not above[si, ti - n]
