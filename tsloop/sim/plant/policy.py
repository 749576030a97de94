"""Plans of interventions, and the logging operator who reacts to what it sees.

A plan fixes some of the three controls per step; a control the plan leaves as
`None` is chosen by the operator policy. The policy's confounding strength
(`PlantConfig.confounding`, like the tumour benchmark's gamma) sets how strongly it
scales up on high load or latency, cools a hot room and rate-limits an overloaded
cluster; at 0 it moves at random, independently of the plant.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from tsloop.errors import PlanError
from tsloop.sim.plant.config import CONTROL_BOUNDS, CONTROLS, ClusterParams, PlantConfig
from tsloop.sim.plant.physics import PlantState, clip

# The capacity schedule aims at this utilisation at median demand: a blind operator
# (confounding 0) keeps more headroom than one who scales up when it sees load.
BLIND_UTIL, REACTIVE_UTIL = 0.5, 0.72
REVERT_P = 0.02  # per-step chance the operator steps its overrides back towards normal
EXPLORE_P = 0.005  # per-step chance of a move unrelated to the plant (tests, maintenance), each direction
NO_LIMIT = CONTROL_BOUNDS["rate_limit"][1]


@dataclass(frozen=True)
class Plan:
    """A schedule of interventions; each field None (operator decides) or broadcastable to (S, H).

    replicas: integer pods in 1..16; cooling_setpoint: degC in 16..30;
    rate_limit: req/s in 10..5000 (5000 = no limit).
    """

    replicas: np.ndarray | float | None = None
    cooling_setpoint: np.ndarray | float | None = None
    rate_limit: np.ndarray | float | None = None

    def resolve(self, series: int, horizon: int) -> dict[str, np.ndarray | None]:
        """Each planned control as a float array (S, H), checked against CONTROL_BOUNDS."""
        out: dict[str, np.ndarray | None] = {}
        for name in CONTROLS:
            value = getattr(self, name)
            if value is None:
                out[name] = None
                continue
            arr = np.asarray(value, dtype=float)
            try:
                arr = np.broadcast_to(arr, (series, horizon)).astype(float)
            except ValueError:
                raise PlanError(
                    f"plan column {name!r} has shape {np.shape(value)}; expected a scalar, ({horizon},) "
                    f"or ({series}, {horizon}) for {series} series and {horizon} steps."
                ) from None
            lo, hi = CONTROL_BOUNDS[name]
            bad = ~np.isfinite(arr) | (arr < lo) | (arr > hi)
            if name == "replicas":
                bad |= arr != np.round(arr)
            if bad.any():
                s, k = np.argwhere(bad)[0]
                raise PlanError(
                    f"plan column {name!r} at series {s}, step {k} is {arr[s, k]!r}; expected "
                    f"{'an integer ' if name == 'replicas' else ''}value in [{lo}, {hi}]."
                )
            out[name] = arr
        return out

    def window(self, a: int, b: int) -> "Plan":
        """The plan over steps a..b-1 (fields that are arrays with a time axis are sliced)."""
        return Plan(**{f.name: _slice_time(getattr(self, f.name), a, b) for f in fields(self)})


def _slice_time(value, a: int, b: int):
    if value is None or np.ndim(value) == 0:
        return value
    return np.asarray(value)[..., a:b]


def capacity_schedule(cfg: PlantConfig, expected_demand: np.ndarray, p: ClusterParams) -> np.ndarray:
    """The operator's planned replicas from the seasonal demand profile, (B, H)."""
    target = BLIND_UTIL + (REACTIVE_UTIL - BLIND_UTIL) * min(cfg.confounding, 1.0)
    need = np.ceil(expected_demand / (p.capacity[:, None] * target))
    return clip(need, *CONTROL_BOUNDS["replicas"])


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-clip(x, -50.0, 50.0)))


def _react(g: float, score: np.ndarray) -> np.ndarray:
    """Chance of a move: exploration plus a reaction to `score` whose strength is g."""
    return EXPLORE_P + (1 - 2 * EXPLORE_P) * _sigmoid(2 * g * score - 6)


def operator_step(
    cfg: PlantConfig, p: ClusterParams, st: PlantState, scheduled: np.ndarray, uniform: np.ndarray
) -> dict[str, np.ndarray]:
    """The operator's controls for this step from last step's measurements; `uniform` (B, 4).

    Returns the three controls and whether its rate limit is engaged (`limit_on`); its other
    memory (replica drift, setpoint) is whatever was last applied.
    """
    g = cfg.confounding
    lo_r, hi_r = CONTROL_BOUNDS["replicas"]
    lo_c, hi_c = CONTROL_BOUNDS["cooling_setpoint"]
    revert = uniform[:, 1] < REVERT_P  # one draw steps both overrides back, like a shift change

    hot = np.maximum((st.seen_cpu - 0.75) / 0.1, (st.seen_latency / cfg.slo_ms - 0.6) / 0.2)
    idle = (0.45 - st.seen_cpu) / 0.1
    p_up, p_down = _react(g, hot), _react(g, idle)
    up = uniform[:, 0] < p_up
    down = ~up & (uniform[:, 0] > 1 - p_down)
    drift = st.drift + up * (1.0 + (hot > 2)) - down - revert * np.sign(st.drift)
    replicas = clip(scheduled + drift, lo_r, hi_r)

    warm = (st.seen_inlet - (cfg.trip_temp - 1.0)) / 0.5
    cool_room = (cfg.trip_temp - 4.5 - st.seen_inlet) / 0.7
    # Reactive warming only brings the setpoint back up to normal; exploration goes either way.
    p_cool = _react(g, warm)
    p_relax = np.where(st.setpoint < cfg.default_setpoint, _react(g, cool_room), EXPLORE_P)
    colder = uniform[:, 2] < p_cool
    warmer = ~colder & (uniform[:, 2] > 1 - p_relax)
    setpoint = st.setpoint - colder + warmer - revert * np.sign(st.setpoint - cfg.default_setpoint)
    setpoint = clip(setpoint, lo_c, hi_c)

    p_on, p_off = _sigmoid(2 * g * (hot - 2) - 7), _sigmoid(-2 * g * hot - 3)
    limit_on = np.where(st.limit_on > 0, uniform[:, 3] >= p_off, uniform[:, 3] < p_on).astype(float)
    limit = np.round(0.9 * replicas * p.capacity, -1)
    rate_limit = np.where(limit_on > 0, clip(limit, *CONTROL_BOUNDS["rate_limit"]), NO_LIMIT)
    return {
        "replicas": replicas,
        "cooling_setpoint": setpoint,
        "rate_limit": rate_limit,
        "limit_on": limit_on,
    }
