"""The demo's scenario: a small simulated fleet, its what-if task, and the two plans compared."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from tsloop.data.spec import TaskSpec
from tsloop.sim.plant.config import CONTROL_BOUNDS, PlantConfig
from tsloop.sim.plant.drivers import PlantNoise
from tsloop.sim.plant.frame import plant_frame, plant_task
from tsloop.sim.plant.policy import Plan
from tsloop.sim.plant.simulator import PlantSimulator, PlantTrajectory


@dataclass
class Scenario:
    sim: PlantSimulator
    noise: PlantNoise
    logged: PlantTrajectory
    frame: pd.DataFrame
    spec: TaskSpec


def make_scenario(series: int, days: int, step_minutes: int, seed: int, confounding: float = 1.0) -> Scenario:
    """Simulate the logged fleet (operator policy) and describe it as a what-if task;
    ``confounding`` is how strongly the logging operator reacts to what it sees (0 = not at all)."""
    steps = days * 24 * 60 // step_minutes
    cfg = PlantConfig(series=series, steps=steps, step_minutes=step_minutes, confounding=confounding)
    sim = PlantSimulator(cfg, seed=seed)
    noise, logged = sim.simulate()
    spec = TaskSpec.from_dict(plant_task("whatif", cfg, data=None))
    return Scenario(sim, noise, logged, plant_frame(sim, logged), spec)


def logged_plan(scenario: Scenario, t0: int, horizon: int) -> Plan:
    """The operator's logged controls over [t0, t0 + horizon), as a plan."""
    return Plan(**{k: v[:, t0 : t0 + horizon] for k, v in scenario.logged.controls.items()})


def demo_plans(scenario: Scenario, t0: int, horizon: int) -> dict[str, Plan]:
    """Two plans a capacity engineer would weigh: hold the current replicas and setpoint, or
    scale out by four replicas; the rate limit stays as logged in both."""
    controls = scenario.logged.controls
    current = controls["replicas"][:, t0 - 1 : t0]  # (S, 1)
    setpoint = controls["cooling_setpoint"][:, t0 - 1 : t0]
    limit = controls["rate_limit"][:, t0 : t0 + horizon]
    hi = CONTROL_BOUNDS["replicas"][1]
    ones = np.ones((1, horizon))
    return {
        "hold": Plan(replicas=current * ones, cooling_setpoint=setpoint * ones, rate_limit=limit),
        "scale_out": Plan(replicas=np.minimum(current + 4, hi) * ones, cooling_setpoint=setpoint * ones, rate_limit=limit),
    }


def plan_frame(scenario: Scenario, future: pd.DataFrame, plan: Plan) -> pd.DataFrame:
    """A plan as the frame a user would pass to ``Forecaster.whatif`` (future rows of every
    series, intervention columns replaced by the plan)."""
    spec = scenario.spec
    out = future.copy()
    series = sorted(out[spec.series_id].unique())
    index = [scenario.frame[spec.series_id].drop_duplicates().tolist().index(s) for s in series]
    horizon = spec.horizon
    resolved = plan.resolve(scenario.sim.config.series, horizon)
    for name in spec.intervention:
        values = resolved[name][index]  # (S, H), in the order of `series`
        for row, sid in enumerate(series):
            out.loc[out[spec.series_id] == sid, name] = values[row]
    return out
