"""The plant as a long-format table with role columns, and its task specifications."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tsloop.sim.plant.config import (
    CONTROL_BOUNDS,
    CONTROLS,
    EVENTS,
    KNOWN_FUTURE,
    PAST_EXOG,
    STATICS,
    TARGETS,
    PlantConfig,
)
from tsloop.sim.plant.drivers import calendar_features
from tsloop.sim.plant.simulator import PlantSimulator, PlantTrajectory

CONTEXT_LENGTH = 288  # steps of context in the plant tasks (one day at 5 min)
HORIZON = 48  # steps ahead (four hours at 5 min)


def series_names(series: int) -> list[str]:
    return [f"cluster_{i:02d}" for i in range(series)]


def plant_frame(sim: PlantSimulator, traj: PlantTrajectory) -> pd.DataFrame:
    """One row per cluster and step: timestamp, series, targets, exogenous, controls, events, statics."""
    cfg = sim.config
    series, steps = traj.exog.demand.shape
    t = np.arange(traj.t0, traj.t0 + steps)
    stamps = pd.Timestamp(cfg.start) + pd.to_timedelta(t * cfg.step_minutes, unit="min")
    flat = lambda a: np.asarray(a).reshape(-1)  # noqa: E731  (S, T) -> (S*T,) cluster-major
    columns: dict[str, np.ndarray] = {
        "timestamp": np.tile(stamps.values, series),
        "series": np.repeat(series_names(series), steps),
    }
    columns.update({k: flat(traj.targets[k]) for k in TARGETS})
    columns["request_rate"] = flat(traj.exog.demand)
    columns["outdoor_temp"] = flat(traj.exog.outdoor_temp)
    columns["temp_forecast"] = flat(traj.exog.temp_forecast)
    columns.update({k: np.tile(v, series) for k, v in calendar_features(cfg, t).items()})
    columns["replicas"] = flat(traj.controls["replicas"]).astype(np.int64)
    columns["cooling_setpoint"] = flat(traj.controls["cooling_setpoint"])
    columns["rate_limit"] = flat(traj.controls["rate_limit"])
    columns.update({k: flat(traj.events[k]).astype(np.int64) for k in EVENTS})
    columns.update({k: np.repeat(v, steps) for k, v in sim.params.statics().items()})
    return pd.DataFrame(columns)


def load_plant_frame(
    *,
    series: int = 8,
    steps: int = 20_000,
    seed: int = 0,
    confounding: float = 1.0,
    step_minutes: int = 5,
    start: str = "2024-01-01 00:00",
) -> pd.DataFrame:
    """The logged telemetry of a simulated fleet (operator policy), as a long-format frame.

    This is the `source: {loader: plant, ...}` entry point; the same arguments always give
    the same frame. Raises SpecError for invalid sizes.
    """
    cfg = PlantConfig(series=series, steps=steps, confounding=confounding, step_minutes=step_minutes, start=start)
    sim = PlantSimulator(cfg, seed=seed)
    _, logged = sim.simulate()
    return plant_frame(sim, logged)


def plant_task(kind: str, config: PlantConfig, data: str | None = None, source: dict | None = None) -> dict:
    """A task specification (docs/CONTRACTS.md schema) for the plant.

    kind "forecast": the controls are past-only observations (nobody knows the operator's
    next move); kind "whatif": they are interventions a user plans.
    """
    if kind not in ("forecast", "whatif"):
        raise ValueError(f"kind must be 'forecast' or 'whatif', not {kind!r}")
    task: dict = {"name": f"plant-{kind}"}
    task.update({"data": data} if source is None else {"source": source})
    scale = 5 / config.step_minutes  # keep one day of context and four hours of horizon
    task.update(
        format="long",
        timestamp="timestamp",
        series_id="series",
        freq=config.freq,
        target=list(TARGETS),
        past_exog=list(PAST_EXOG) + (list(CONTROLS) if kind == "forecast" else []),
        known_future=list(KNOWN_FUTURE),
        intervention=list(CONTROLS) if kind == "whatif" else [],
        event=list(EVENTS),
        static=list(STATICS),
        # Heavy tails (excess kurtosis 7-69 raw, datasets/plant/README.md) are scaled in log space,
        # so forecasts stay positive with useful bands. error_rate > 0 always (base errors), so log.
        transforms={"queue_depth": "log1p", "latency_p95": "log1p", "error_rate": "log", "request_rate": "log1p"},
        context_length=max(1, round(CONTEXT_LENGTH * scale)),
        horizon=max(1, round(HORIZON * scale)),
        split={"fractions": [0.7, 0.1, 0.2]},
    )
    if kind == "whatif":
        task["intervention_bounds"] = {k: [float(lo), float(hi)] for k, (lo, hi) in CONTROL_BOUNDS.items()}
        task["intervention_bounds"]["replicas"] = [int(v) for v in CONTROL_BOUNDS["replicas"]]
    return task
