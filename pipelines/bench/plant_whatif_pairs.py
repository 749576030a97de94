"""Suite 4's plan pairs and their ground truth from the simulator (issue #13).

Each pair compares a reference plan *a* with an alternative *b* on the mean of one target over
the horizon (lower is better); its effect is value(b) − value(a). The simulator gives, at every
what-if origin and cluster, the oracle's predictive paths under both plans (the full state
known, common random numbers) and the realized counterfactual (the scenario's own noise):

    truth = scenario_truth(make_scenario(4, 42, 15, seed, confounding=0.5), 24, 48)
    truth.pairs["cooling"].oracle_effect       # (O, S) oracle expected effect, cool_3 − hold
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from tsloop import metrics
from tsloop.demo.evaluate import origins_in_test_part
from tsloop.demo.scenario import Scenario, demo_plans, logged_plan
from tsloop.query.objective import prob_better
from tsloop.sim.plant.config import CONTROL_BOUNDS
from tsloop.sim.plant.oracle import states_at
from tsloop.sim.plant.policy import Plan

MATERIAL = 0.05  # a pair is material when |oracle effect| > 5 % of the oracle's expected objective under plan a
COOLING_DROP = 3.0  # degC the cooling pair lowers the setpoint by


def trade_off_plans(scenario: Scenario, t0: int, horizon: int) -> dict[str, Plan]:
    """Two remedies whose ranking depends on the state: add two replicas (rate limit as logged), or
    keep the replicas and cap admissions at 85 % of the last observed request rate. Scaling out
    by four beats holding at every origin of the demo pair (or ties at the replica cap), so that
    pair only tests the sign of one effect; here the better plan changes with load and backlog."""
    controls = scenario.logged.controls
    current = controls["replicas"][:, t0 - 1 : t0]  # (S, 1)
    setpoint = controls["cooling_setpoint"][:, t0 - 1 : t0]
    limit = np.clip(0.85 * scenario.logged.exog.demand[:, t0 - 1 : t0], *CONTROL_BOUNDS["rate_limit"])
    ones = np.ones((1, horizon))
    return {
        "scale_out_2": Plan(replicas=np.minimum(current + 2, CONTROL_BOUNDS["replicas"][1]) * ones,
                            cooling_setpoint=setpoint * ones, rate_limit=controls["rate_limit"][:, t0 : t0 + horizon]),
        "throttle": Plan(replicas=current * ones, cooling_setpoint=setpoint * ones, rate_limit=limit * ones),
    }


def cooling_plans(scenario: Scenario, t0: int, horizon: int) -> dict[str, Plan]:
    """Hold the cooling setpoint as logged at the origin, or lower it by 3 degC (not below 16);
    replicas and rate limit as logged over the horizon in both. The room's inlet temperature
    relaxes towards setpoint + server heat + coupling × (outdoor − setpoint) with the room's time
    constant (``physics.step``), so the effect on inlet_temp is ≈ −3 × (1 − coupling) degC once
    the room has settled (coupling 0.15–0.30). The logging operator lowers the setpoint when the
    room runs hot: the confounding a model must undo."""
    controls = scenario.logged.controls
    setpoint = controls["cooling_setpoint"][:, t0 - 1 : t0]  # (S, 1)
    lowered = np.maximum(setpoint - COOLING_DROP, CONTROL_BOUNDS["cooling_setpoint"][0])
    ones = np.ones((1, horizon))
    logged = {k: controls[k][:, t0 : t0 + horizon] for k in ("replicas", "rate_limit")}
    return {"hold": Plan(cooling_setpoint=setpoint * ones, **logged),
            "cool_3": Plan(cooling_setpoint=lowered * ones, **logged)}


@dataclass(frozen=True)
class PairSpec:
    """A plan pair: plans(scenario, t0, horizon) -> {a: Plan, b: Plan} and the objective channel."""

    title: str
    plans: Callable[[Scenario, int, int], dict[str, Plan]]
    channel: str  # objective: mean of this target over the horizon, lower is better


PAIRS = {
    "demo": PairSpec("hold vs scale out by 4 (objective mean latency_p95)", demo_plans, "latency_p95"),
    "trade_off": PairSpec("scale out by 2 vs throttle to 85 % of demand (objective mean latency_p95)",
                          trade_off_plans, "latency_p95"),
    "cooling": PairSpec("hold the cooling setpoint vs lower it by 3 °C (objective mean inlet_temp)",
                        cooling_plans, "inlet_temp"),
}


@dataclass
class PairTruth:
    """One pair at the what-if origins: arrays (O, S) unless noted; plan-keyed dicts in plan order."""

    plans: list[str]  # [a, b]; effects are b − a
    oracle_effect: np.ndarray  # oracle expected effect
    oracle_lower: np.ndarray  # oracle 5 % quantile of the effect over its paths
    oracle_upper: np.ndarray  # oracle 95 % quantile
    oracle_p_better: np.ndarray  # oracle P(b better), ties half (the model's rule)
    oracle_base: np.ndarray  # oracle expected objective under plan a
    oracle_crps: dict  # plan -> (O, S) CRPS of the oracle's objective-channel paths vs the realized one
    oracle_events: dict  # plan -> (O, S, H, Ce) oracle P(event)
    realized: dict  # plan -> (O, S) realized mean objective
    realized_paths: dict  # plan -> (O, S, H) realized objective channel
    realized_events: dict  # plan -> (O, S, H, Ce)

    @property
    def material(self) -> np.ndarray:
        """(O, S) pairs whose oracle effect exceeds MATERIAL of plan a's expected objective."""
        return np.abs(self.oracle_effect) > MATERIAL * np.abs(self.oracle_base)

    @property
    def realized_effect(self) -> np.ndarray:
        a, b = self.plans
        return self.realized[b] - self.realized[a]


@dataclass
class Truth:
    """What the simulator knows at the suite's origins, computed once per scenario, shared by every model."""

    forecast_origins: list[int]
    whatif_origins: list[int]
    events_factual: np.ndarray  # (O, S, H, Ce) logged events at the forecast origins
    oracle_event_factual: np.ndarray  # (O, S, H, Ce) oracle P(event) under the logged plan
    pairs: dict  # pair name -> PairTruth
    oracle_latency_ms: float  # one oracle rollout of the demo pair, 100 paths, best of 3


def pair_truth(scenario: Scenario, origins: list[int], states: list, plans_of: Callable, channel: str,
               paths: int = 256) -> PairTruth:
    """Oracle and realized outcomes of the pair ``plans_of`` at ``origins`` (``states`` before each)."""
    sim, noise, H = scenario.sim, scenario.noise, scenario.spec.horizon
    events = list(scenario.spec.event)
    stack = lambda d: np.stack([d[e] for e in events], axis=-1)  # noqa: E731  {event: (.., H)} -> (.., H, Ce)
    out = {k: [] for k in ("effect", "lower", "upper", "p", "base")}
    per_plan = {k: {} for k in ("crps", "events", "realized", "paths", "realized_events")}
    for i, (t0, state) in enumerate(zip(origins, states)):
        plans = plans_of(scenario, t0, H)
        a, b = plans
        rolled = sim.rollout(state, list(plans.values()), noise.exog.temp_forecast[:, t0 : t0 + H], paths, seed=i)
        value = {n: s.targets[channel].mean(-1) for n, s in zip(plans, rolled)}  # (N, S)
        diff = value[b] - value[a]
        out["effect"].append(diff.mean(0))
        out["lower"].append(np.quantile(diff, 0.05, axis=0))
        out["upper"].append(np.quantile(diff, 0.95, axis=0))
        out["p"].append([prob_better(diff[:, s], "min") for s in range(diff.shape[1])])
        out["base"].append(value[a].mean(0))
        for n, s in zip(plans, rolled):
            run = sim.run(noise, plans[n], start=state, steps=H)
            keep = {"crps": metrics.crps_ensemble(run.targets[channel], s.targets[channel]).mean(-1),
                    "events": stack(s.events).mean(0), "realized": run.targets[channel].mean(-1),
                    "paths": run.targets[channel], "realized_events": stack(run.events)}
            for k, v in keep.items():
                per_plan[k].setdefault(n, []).append(v)
    arr = lambda d: {k: np.asarray(v) for k, v in d.items()}  # noqa: E731
    return PairTruth(list(per_plan["realized"]), *(np.asarray(out[k]) for k in ("effect", "lower", "upper", "p", "base")),
                     arr(per_plan["crps"]), arr(per_plan["events"]), arr(per_plan["realized"]),
                     arr(per_plan["paths"]), arr(per_plan["realized_events"]))


def scenario_truth(scenario: Scenario, n_forecast: int, n_whatif: int, paths: int = 256) -> Truth:
    """The forecast origins' events and oracle event probabilities, and every pair of PAIRS."""
    sim, noise, H = scenario.sim, scenario.noise, scenario.spec.horizon
    events = list(scenario.spec.event)
    fo, wo = origins_in_test_part(scenario, n_forecast), origins_in_test_part(scenario, n_whatif)
    ev_f, or_f = [], []
    for i, (t0, state) in enumerate(zip(fo, states_at(sim, noise, fo))):
        ev_f.append(np.stack([scenario.logged.events[e][:, t0 : t0 + H] for e in events], -1))
        o = sim.rollout(state, [logged_plan(scenario, t0, H)], noise.exog.temp_forecast[:, t0 : t0 + H], paths, seed=i)[0]
        or_f.append(np.stack([o.events[e] for e in events], -1).mean(0))
    states = states_at(sim, noise, wo)
    pairs = {name: pair_truth(scenario, wo, states, p.plans, p.channel, paths) for name, p in PAIRS.items()}
    plans = list(demo_plans(scenario, wo[0], H).values())
    latency = []
    for _ in range(3):
        start = time.perf_counter()
        sim.rollout(states[0], plans, noise.exog.temp_forecast[:, wo[0] : wo[0] + H], 100, seed=0)
        latency.append(time.perf_counter() - start)
    return Truth(fo, wo, np.asarray(ev_f), np.asarray(or_f), pairs, 1000 * min(latency))
