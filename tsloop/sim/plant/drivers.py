"""Exogenous drivers and pre-drawn noise of the plant (phase one of the simulation).

Everything random is drawn here, up front and independent of any plan, so that
`run(noise, plan)` is deterministic and two plans meet the same demand, weather
and noise (common random numbers).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import pandas as pd

from tsloop.sim.plant.config import ClusterParams, PlantConfig

N_NORMAL = 7  # per-step normals: cpu, latency, queue, power, inlet (measurement), error, inlet (process)
N_UNIFORM = 4  # per-step uniforms of the operator: replica move, replica revert, setpoint move, limit toggle

DEMAND_AR_MIN, DEMAND_AR_SD = 60.0, 0.08  # minutes, log-demand wander
BURST_DECAY_MIN = 45.0  # minutes a burst takes to fade by 1/e
WEATHER_MIN, WEATHER_SD = 2 * 1440.0, 4.0  # slow weather anomaly in the published forecast
TEMP_ERR_MIN, TEMP_ERR_SD = 240.0, 1.5  # forecast error of the outdoor temperature
FAULT_DECAY_MIN = 120.0  # minutes a cooling fault takes to fade by 1/e once repairs start
BURST_SIZE = (0.5, 2.5)  # extra relative demand a burst adds at onset
FAULT_SIZE = (3.0, 8.0)  # degC a cooling fault adds to the room's equilibrium temperature


def calendar(cfg: PlantConfig, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Hour of day (float) and day of week (0 = Monday) of step indices `t`."""
    start = pd.Timestamp(cfg.start)
    minutes = start.hour * 60 + start.minute + np.asarray(t, dtype=float) * cfg.step_minutes
    hour = (minutes / 60.0) % 24.0
    dow = (start.dayofweek + np.floor(minutes / 1440.0)) % 7
    return hour, dow


def calendar_features(cfg: PlantConfig, t: np.ndarray) -> dict[str, np.ndarray]:
    """The known-future calendar columns (sin/cos of hour and day of week)."""
    hour, dow = calendar(cfg, t)
    day_phase = 2 * np.pi * (dow + hour / 24.0) / 7.0
    return {
        "hour_sin": np.sin(2 * np.pi * hour / 24.0),
        "hour_cos": np.cos(2 * np.pi * hour / 24.0),
        "dow_sin": np.sin(day_phase),
        "dow_cos": np.cos(day_phase),
    }


def expected_demand(cfg: PlantConfig, params: ClusterParams, t: np.ndarray) -> np.ndarray:
    """Seasonal demand without noise or bursts, (B, H) for params of batch B and steps t (H,).

    The operator plans capacity from this profile; it is also the demand's median.
    """
    hour, dow = calendar(cfg, t)
    daily = 1.0 + 0.45 * np.cos(2 * np.pi * (hour - 14.0) / 24.0) + 0.1 * np.cos(4 * np.pi * (hour - 10.0) / 24.0)
    weekly = np.where(dow == 5, 0.78, np.where(dow == 6, 0.72, 1.0))
    days = np.asarray(t, dtype=float) / cfg.steps_per_day
    trend = 1.0 + params.growth_per_day[:, None] * days[None, :]
    return params.base_rate[:, None] * trend * (daily * weekly)[None, :]


@dataclass(frozen=True)
class ExogState:
    """Latent state of the exogenous processes after a step, arrays (B,)."""

    demand_ar: np.ndarray  # log-demand AR(1) deviation
    burst: np.ndarray  # extra relative demand of the burst in progress
    temp_err: np.ndarray  # degC actual minus forecast outdoor temperature
    cooling_fault: np.ndarray  # degC of heat the cooling fails to remove (hidden)


@dataclass(frozen=True)
class ExogPaths:
    """Exogenous paths over steps, arrays (B, H)."""

    demand: np.ndarray  # req/s offered by clients
    outdoor_temp: np.ndarray  # degC actual
    temp_forecast: np.ndarray  # degC published forecast
    demand_ar: np.ndarray
    burst: np.ndarray
    temp_err: np.ndarray
    cooling_fault: np.ndarray

    def state(self, k: int) -> ExogState:
        """Latent state after local step k."""
        return ExogState(self.demand_ar[:, k], self.burst[:, k], self.temp_err[:, k], self.cooling_fault[:, k])

    def window(self, a: int, b: int) -> "ExogPaths":
        return ExogPaths(*(getattr(self, f.name)[:, a:b] for f in fields(self)))


def stationary_exog(batch: int, rng: np.random.Generator) -> ExogState:
    """A start state drawn from the stationary law (no burst in progress)."""
    return ExogState(
        demand_ar=DEMAND_AR_SD * rng.standard_normal(batch),
        burst=np.zeros(batch),
        temp_err=TEMP_ERR_SD * rng.standard_normal(batch),
        cooling_fault=np.zeros(batch),
    )


def draw_forecast(cfg: PlantConfig, params: ClusterParams, t: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The published outdoor-temperature forecast, (S, H): climate + daily cycle + slow weather."""
    hour, _ = calendar(cfg, t)
    phi = cfg.decay(WEATHER_MIN)
    shocks = rng.standard_normal((len(params.capacity), len(t))) * WEATHER_SD * np.sqrt(1 - phi**2)
    shocks[:, 0] = WEATHER_SD * rng.standard_normal(len(params.capacity))
    weather = _ar1(shocks, phi, np.zeros(len(params.capacity)))
    return params.climate_mean[:, None] + 5.0 * np.cos(2 * np.pi * (hour - 15.0) / 24.0)[None, :] + weather


def draw_exog(
    cfg: PlantConfig,
    params: ClusterParams,
    t: np.ndarray,
    start: ExogState,
    forecast: np.ndarray,
    rng: np.random.Generator,
) -> ExogPaths:
    """Continue demand, actual temperature and cooling faults from `start` over steps `t` (H,),
    given the published forecast (B, H)."""
    batch, horizon = forecast.shape
    phi_d, phi_e = cfg.decay(DEMAND_AR_MIN), cfg.decay(TEMP_ERR_MIN)
    demand_ar = _ar1(rng.standard_normal((batch, horizon)) * DEMAND_AR_SD * np.sqrt(1 - phi_d**2), phi_d, start.demand_ar)
    temp_err = _ar1(rng.standard_normal((batch, horizon)) * TEMP_ERR_SD * np.sqrt(1 - phi_e**2), phi_e, start.temp_err)
    burst_kicks = _kicks(rng, (batch, horizon), cfg.burst_per_day / cfg.steps_per_day, BURST_SIZE)
    fault_kicks = _kicks(rng, (batch, horizon), cfg.faults_per_day / cfg.steps_per_day, FAULT_SIZE)
    burst = _ar1(burst_kicks, cfg.decay(BURST_DECAY_MIN), start.burst)
    fault = _ar1(fault_kicks, cfg.decay(FAULT_DECAY_MIN), start.cooling_fault)
    demand = expected_demand(cfg, params, t) * np.exp(demand_ar) * (1.0 + burst)
    return ExogPaths(demand, forecast + temp_err, forecast, demand_ar, burst, temp_err, fault)


def _kicks(rng: np.random.Generator, shape: tuple[int, int], p: float, size: tuple[float, float]) -> np.ndarray:
    """Rare onsets (probability p per step) of uniformly sized shocks."""
    return (rng.random(shape) < p) * rng.uniform(*size, shape)


def _ar1(shocks: np.ndarray, phi: float, x0: np.ndarray) -> np.ndarray:
    """x[:, k] = phi * x[:, k-1] + shocks[:, k], with x[:, -1] = x0; (B, H)."""
    out = np.empty_like(shocks)
    x = x0
    for k in range(shocks.shape[1]):
        x = phi * x + shocks[:, k]
        out[:, k] = x
    return out


@dataclass(frozen=True)
class StepNoise:
    """Per-step measurement/process normals (B, H, N_NORMAL) and operator uniforms (B, H, N_UNIFORM)."""

    normal: np.ndarray
    uniform: np.ndarray

    @classmethod
    def draw(cls, batch: int, horizon: int, rng: np.random.Generator) -> "StepNoise":
        return cls(rng.standard_normal((batch, horizon, N_NORMAL)), rng.random((batch, horizon, N_UNIFORM)))

    def window(self, a: int, b: int) -> "StepNoise":
        return StepNoise(self.normal[:, a:b], self.uniform[:, a:b])


@dataclass(frozen=True)
class PlantNoise:
    """Everything random about one logged scenario, drawn before any plan is known.

    `exog` covers steps 0..T-1 of every cluster; `start` is the exogenous state before step 0.
    """

    start: ExogState
    exog: ExogPaths
    step: StepNoise

    @property
    def steps(self) -> int:
        return self.exog.demand.shape[1]

    @classmethod
    def draw(cls, cfg: PlantConfig, params: ClusterParams, rng: np.random.Generator) -> "PlantNoise":
        t = np.arange(cfg.steps)
        forecast = draw_forecast(cfg, params, t, rng)
        start = stationary_exog(cfg.series, rng)
        exog = draw_exog(cfg, params, t, start, forecast, rng)
        return cls(start, exog, StepNoise.draw(cfg.series, cfg.steps, rng))
