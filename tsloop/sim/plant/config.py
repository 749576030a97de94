"""Configuration, channel vocabulary and per-cluster parameters of the telemetry plant.

Every time constant is written in minutes and converted to steps, so the plant can
run at another step than the default 5 minutes.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from tsloop.errors import SpecError

# Column roles, in the task-file vocabulary of docs/CONTRACTS.md.
TARGETS = ("cpu_util", "queue_depth", "latency_p95", "power_kw", "inlet_temp", "error_rate")
PAST_EXOG = ("request_rate", "outdoor_temp")
KNOWN_FUTURE = ("temp_forecast", "hour_sin", "hour_cos", "dow_sin", "dow_cos")
CONTROLS = ("replicas", "cooling_setpoint", "rate_limit")
EVENTS = ("slo_breach", "thermal_trip")
STATICS = ("capacity", "thermal_tau_min", "heat_gain", "idle_power_kw")

# Inclusive bounds of each intervention; a plan outside them is a PlanError.
CONTROL_BOUNDS: dict[str, tuple[float, float]] = {
    "replicas": (1, 16),  # integer pods
    "cooling_setpoint": (16.0, 30.0),  # degC
    "rate_limit": (10.0, 5000.0),  # req/s; the upper bound means "no limit"
}


@dataclass(frozen=True)
class PlantConfig:
    """Sizes and fixed physical constants of a simulated fleet of service clusters."""

    series: int = 8  # clusters
    steps: int = 20_000  # time steps per cluster
    step_minutes: int = 5  # sampling period
    confounding: float = 1.0  # how strongly the logging operator reacts to what it sees (0 = not at all)
    start: str = "2024-01-01 00:00"  # timestamp of step 0 (naive UTC)
    slo_ms: float = 250.0  # p95 latency objective
    slo_steps: int = 2  # consecutive breaching steps that make an SLO-breach event
    trip_temp: float = 30.0  # degC inlet temperature of a thermal trip
    trip_steps: int = 2  # consecutive hot steps that make a thermal-trip event
    throttle_temp: float = 29.0  # degC above which servers throttle their clock
    default_setpoint: float = 22.0  # degC the operator returns to
    burst_per_day: float = 4.0  # expected demand bursts per cluster-day
    faults_per_day: float = 3.0  # expected cooling faults per cluster-day

    def __post_init__(self) -> None:
        if self.series < 1:
            raise SpecError(f"plant: series={self.series}; expected at least 1 cluster.")
        if self.steps < 2:
            raise SpecError(f"plant: steps={self.steps}; expected at least 2 time steps.")
        if self.step_minutes not in (1, 2, 5, 10, 15, 20, 30, 60):
            raise SpecError(
                f"plant: step_minutes={self.step_minutes}; expected one of 1, 2, 5, 10, 15, 20, 30, 60 "
                "(whole minutes that divide an hour; the default is 5)."
            )
        if not 0 <= self.confounding <= 10:
            raise SpecError(
                f"plant: confounding={self.confounding}; expected 0 (operator ignores the plant) .. 10."
            )

    @property
    def freq(self) -> str:
        """The pandas-style frequency string of a step, as task files write it."""
        return "1h" if self.step_minutes == 60 else f"{self.step_minutes}min"

    @property
    def steps_per_day(self) -> float:
        return 1440.0 / self.step_minutes

    def decay(self, minutes: float | np.ndarray) -> float | np.ndarray:
        """Per-step AR(1) coefficient of a process with time constant `minutes`."""
        return np.exp(-self.step_minutes / np.asarray(minutes, dtype=float))


@dataclass(frozen=True)
class ClusterParams:
    """Static parameters of each cluster, arrays of shape (S,)."""

    capacity: np.ndarray  # req/s one warm replica serves
    base_rate: np.ndarray  # req/s mean demand at the start
    growth_per_day: np.ndarray  # relative demand trend
    thermal_tau_min: np.ndarray  # minutes, thermal time constant of the room
    heat_gain: np.ndarray  # degC above setpoint per kW drawn by one server
    idle_power_kw: np.ndarray  # kW one idle server draws
    base_latency_ms: np.ndarray  # network + handler time
    climate_mean: np.ndarray  # degC mean outdoor temperature
    outdoor_coupling: np.ndarray  # share of the outdoor-setpoint gap that leaks into the room

    @classmethod
    def draw(cls, series: int, rng: np.random.Generator) -> "ClusterParams":
        """Draw `series` clusters with different capacity, size, thermal mass and climate."""
        capacity = rng.uniform(40.0, 80.0, series)
        return cls(
            capacity=capacity,
            base_rate=capacity * rng.uniform(3.0, 5.5, series),
            growth_per_day=rng.uniform(0.0, 0.004, series),
            thermal_tau_min=rng.uniform(30.0, 120.0, series),
            heat_gain=rng.uniform(15.0, 24.0, series),
            idle_power_kw=rng.uniform(0.10, 0.16, series),
            base_latency_ms=rng.uniform(20.0, 40.0, series),
            climate_mean=rng.uniform(6.0, 24.0, series),
            outdoor_coupling=rng.uniform(0.15, 0.30, series),
        )

    def take(self, index: np.ndarray) -> "ClusterParams":
        """Parameters repeated along a batch: row b is cluster index[b]."""
        return ClusterParams(**{f.name: getattr(self, f.name)[index] for f in fields(self)})

    def statics(self) -> dict[str, np.ndarray]:
        """The static columns a model sees, keyed by STATICS names."""
        return {
            "capacity": self.capacity,
            "thermal_tau_min": self.thermal_tau_min,
            "heat_gain": self.heat_gain,
            "idle_power_kw": self.idle_power_kw,
        }
