"""One step of the plant's physics: capacity, queueing, latency, power, heat, errors, events.

The physics is deterministic given the controls and the step's noise; all of it is
vectorised over a batch B of clusters (or clusters x Monte Carlo paths).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import numpy as np

from tsloop.sim.plant.config import ClusterParams, PlantConfig
from tsloop.sim.plant.drivers import ExogState

WARMUP = 0.4  # share of the missing capacity a scale-up brings each step (pods warm up)
DYN_POWER_KW = 0.25  # kW one server draws on top of idle at full utilisation
BASE_ERROR = 0.002  # error rate of a healthy cluster
QUEUE_SECONDS = 20.0  # the backlog buffer holds this many seconds of the largest (16-replica) cluster's work
MAX_RHO = 0.995  # the queueing formula's utilisation cap (the backlog takes over beyond it)


def clip(x: np.ndarray, lo, hi) -> np.ndarray:
    """np.clip without its dispatch overhead (it dominates a step on small batches)."""
    return np.minimum(np.maximum(x, lo), hi)


@dataclass(frozen=True)
class PlantState:
    """Everything the simulator needs to continue from a step: arrays (B,), `t` the next step index.

    Physical: backlog, true inlet temperature, warm replicas. Operator: what it saw last
    step and its own memory. Events: consecutive-breach counters. Exogenous: latent states.
    """

    t: int
    queue: np.ndarray  # requests in the backlog
    inlet: np.ndarray  # degC true inlet temperature
    replicas_warm: np.ndarray  # effective (warm) replicas
    seen_cpu: np.ndarray  # last measured cpu_util
    seen_latency: np.ndarray  # last measured latency_p95, ms
    seen_inlet: np.ndarray  # last measured inlet_temp, degC
    slo_count: np.ndarray  # consecutive steps above the SLO
    trip_count: np.ndarray  # consecutive steps above the trip temperature
    drift: np.ndarray  # operator's replica offset from its capacity schedule
    setpoint: np.ndarray  # degC last applied cooling setpoint
    limit_on: np.ndarray  # 1 while the operator's rate limit is engaged
    exog: ExogState

    def take(self, index: np.ndarray) -> "PlantState":
        """The state repeated along a batch: row b is row index[b] (e.g. clusters x paths)."""
        arrays = {k: v[index] for k, v in self.__dict__.items() if isinstance(v, np.ndarray)}
        exog = ExogState(*(getattr(self.exog, f.name)[index] for f in fields(self.exog)))
        return replace(self, exog=exog, **arrays)


def initial_state(cfg: PlantConfig, replicas: np.ndarray, exog: ExogState) -> PlantState:
    """A quiet start: empty backlog, room at the default setpoint plus a little heat."""
    batch = len(replicas)
    inlet = np.full(batch, cfg.default_setpoint + 2.0)
    zeros = np.zeros(batch)
    return PlantState(
        t=0,
        queue=zeros,
        inlet=inlet,
        replicas_warm=replicas.astype(float),
        seen_cpu=np.full(batch, 0.5),
        seen_latency=np.full(batch, 80.0),
        seen_inlet=inlet,
        slo_count=zeros,
        trip_count=zeros,
        drift=zeros,
        setpoint=np.full(batch, cfg.default_setpoint),
        limit_on=zeros,
        exog=exog,
    )


def latency_p95_ms(
    p: ClusterParams, offered: np.ndarray, capacity_per_replica: np.ndarray, replicas: np.ndarray, backlog_s: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """p95 sojourn time (ms) and mean queue length of an M/M/c-like pool plus a fluid backlog.

    Waiting time uses Sakasegawa's M/M/c approximation Wq = s rho^(sqrt(2(c+1))-1) / (c (1-rho)),
    which falls with c at fixed load; the p95 of an exponential-tailed sojourn is ~3x its mean.
    """
    service_s = 1.0 / capacity_per_replica
    rho = clip(offered / (replicas * capacity_per_replica), 0.0, MAX_RHO)
    wait_s = service_s * rho ** (np.sqrt(2.0 * (replicas + 1.0)) - 1.0) / (replicas * (1.0 - rho))
    latency = p.base_latency_ms + 1000.0 * (3.0 * (service_s + wait_s) + backlog_s)
    return latency, offered * wait_s


def step(
    cfg: PlantConfig,
    p: ClusterParams,
    st: PlantState,
    demand: np.ndarray,
    outdoor: np.ndarray,
    fault: np.ndarray,
    replicas: np.ndarray,
    setpoint: np.ndarray,
    rate_limit: np.ndarray,
    normal: np.ndarray,
) -> tuple[PlantState, dict[str, np.ndarray]]:
    """Advance one step under the given controls; demand (req/s), outdoor and cooling-fault heat
    (degC) are this step's exogenous values, `normal` is (B, N_NORMAL). Returns the new
    state (operator memory untouched) and the step's measured targets and events."""
    dt = cfg.step_minutes * 60.0
    # Scale-down is immediate, scale-up warms up over a few steps.
    warm = np.where(replicas >= st.replicas_warm, st.replicas_warm + WARMUP * (replicas - st.replicas_warm), replicas)
    throttle = 1.0 - 0.5 * clip((st.inlet - cfg.throttle_temp) / 5.0, 0.0, 1.0)
    per_replica = p.capacity * throttle
    capacity = warm * per_replica  # req/s

    admitted = np.minimum(demand, rate_limit)
    offered = admitted + st.queue / dt  # req/s, the backlog drains first
    served = np.minimum(offered, capacity)
    queue = st.queue + (admitted - served) * dt
    queue_max = QUEUE_SECONDS * 16 * p.capacity
    dropped = np.maximum(queue - queue_max, 0.0)
    queue = np.minimum(queue, queue_max)
    backlog_s = queue / capacity
    util = served / capacity

    latency, waiting = latency_p95_ms(p, offered, per_replica, warm, backlog_s)
    it_kw = replicas * p.idle_power_kw + DYN_POWER_KW * warm * util
    cooling_kw = it_kw * (0.3 + 0.04 * np.maximum(outdoor - setpoint, 0.0))
    per_server_kw = it_kw / replicas
    target = setpoint + p.heat_gain * per_server_kw + p.outdoor_coupling * (outdoor - setpoint) + fault
    tau_steps = p.thermal_tau_min / cfg.step_minutes
    inlet = st.inlet + (target - st.inlet) / tau_steps + 0.05 * normal[:, 6]

    errors = (
        BASE_ERROR * np.exp(0.3 * normal[:, 5])
        + (demand - admitted) / demand  # rejected by the rate limit (HTTP 429)
        + dropped / (demand * dt)  # backlog overflow
        + 0.5 * clip((backlog_s - 1.0) / 4.0, 0.0, 1.0)  # client time-outs
        + 0.05 * clip((st.inlet - cfg.throttle_temp) / 5.0, 0.0, 1.0)  # throttled hardware
    )
    out = {
        "cpu_util": clip(0.02 + 0.96 * util + 0.01 * normal[:, 0], 0.0, 1.0),
        "queue_depth": (queue + waiting) * np.exp(0.05 * normal[:, 2]),
        "latency_p95": latency * np.exp(0.05 * normal[:, 1]),
        "power_kw": (it_kw + cooling_kw) * (1.0 + 0.01 * normal[:, 3]),
        "inlet_temp": inlet + 0.1 * normal[:, 4],
        "error_rate": clip(errors, 0.0, 1.0),
    }
    slo_count = np.where(out["latency_p95"] > cfg.slo_ms, st.slo_count + 1, 0.0)
    trip_count = np.where(out["inlet_temp"] > cfg.trip_temp, st.trip_count + 1, 0.0)
    out["slo_breach"] = (slo_count == cfg.slo_steps).astype(float)
    out["thermal_trip"] = (trip_count == cfg.trip_steps).astype(float)
    new = replace(
        st,
        t=st.t + 1,
        queue=queue,
        inlet=inlet,
        replicas_warm=warm,
        seen_cpu=out["cpu_util"],
        seen_latency=out["latency_p95"],
        seen_inlet=out["inlet_temp"],
        slo_count=slo_count,
        trip_count=trip_count,
    )
    return new, out
