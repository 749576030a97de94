"""The plant's oracle: the exact predictive law of future trajectories, and its CRPS.

The oracle knows the simulator and the full state at the end of a context (backlog,
room temperature, hidden cooling faults, bursts in progress, the operator's memory)
and re-draws only what nobody can know: future demand, weather error and noise. Its
CRPS is the physical limit of any forecaster on the same windows, up to Monte Carlo
error (shrinking as 1/n_paths).
"""

from __future__ import annotations

import numpy as np

from tsloop.metrics import crps_ensemble
from tsloop.sim.plant.config import TARGETS
from tsloop.sim.plant.drivers import PlantNoise
from tsloop.sim.plant.physics import PlantState
from tsloop.sim.plant.policy import Plan
from tsloop.sim.plant.simulator import PlantSimulator


def states_at(sim: PlantSimulator, noise: PlantNoise, origins: list[int]) -> list[PlantState]:
    """States before each step in `origins` along the logged trajectory, in one pass."""
    states, state = [], None
    previous = 0
    for t0 in sorted(origins):
        if t0 > previous:
            state = sim.run(noise, start=state, steps=t0 - previous).final_state
        previous = t0
        states.append(state)
    order = np.argsort(origins)
    out: list[PlantState] = [None] * len(origins)  # type: ignore[list-item]
    for rank, i in enumerate(order):
        out[i] = states[rank]
    return out


def oracle_crps(
    sim: PlantSimulator,
    noise: PlantNoise,
    origins: list[int],
    horizon: int,
    plan: Plan | None = None,
    n_paths: int = 256,
    seed: int = 0,
) -> dict[str, float]:
    """Mean oracle CRPS per target channel over clusters, origins and the horizon.

    With plan=None the truth is the logged continuation (a forecast task); with a plan,
    the truth is the counterfactual run of that plan on the scenario's own noise (a
    what-if task), and the plan's arrays are indexed from each origin.
    """
    totals = {name: 0.0 for name in TARGETS}
    for i, (t0, state) in enumerate(zip(origins, states_at(sim, noise, origins))):
        truth = sim.run(noise, plan, start=state, steps=horizon)
        forecast = noise.exog.temp_forecast[:, t0 : t0 + horizon]
        paths = sim.rollout(state, [plan], forecast, n_paths=n_paths, seed=seed + i)[0]
        for name in TARGETS:
            totals[name] += float(crps_ensemble(truth.targets[name], paths.targets[name]).mean())
    return {name: total / len(origins) for name, total in totals.items()}


def climatology_paths(history: np.ndarray, horizon: int, n_paths: int, rng: np.random.Generator) -> np.ndarray:
    """A naive forecaster: each future step is a draw from the context's values; history (S, L) -> (N, S, H)."""
    series, length = history.shape
    pick = rng.integers(0, length, (n_paths, series, horizon))
    return np.take_along_axis(np.broadcast_to(history, (n_paths, series, length)), pick, axis=2)
