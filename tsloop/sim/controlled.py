"""A small controlled system with a reacting operator, whose counterfactuals are exact.

The negative and positive causal controls of every what-if method (WHATIF.md, "Tests every
method should pass") are run on it: its effect is known in closed form, and the operator's
reaction to the target makes the logged association between control and target wrong.

Data card
---------
- **Series**: ``series`` independent units (default 4), ``steps`` hourly rows each.
- **Columns** (long format): ``timestamp``, ``series``, target ``y``, known-future
  ``phase_sin`` / ``phase_cos`` (the phase of the seasonal load, like an hour-of-day clock),
  intervention ``a`` in {0, 1}.
- **Dynamics** of unit i (level ``m_i``, seasonal load ``s_t = m_i + amplitude * sin(2 pi t /
  period)``)::

      y_t = rho * y_{t-1} + (1 - rho) * s_t + beta * a_t + sigma * eps_t,   eps_t ~ N(0, 1)

- **Operator** (the logging policy): it sees the last observed ``y_{t-1}`` and sets
  ``a_t = 1`` when ``y_{t-1} > m_i + threshold``, else 0; with probability ``explore`` it does
  the opposite, so both controls occur in every state (overlap).
- **What is confounded**: ``a_t`` is a function of ``y_{t-1}``, which also drives ``y_t`` (and
  every later y). The operator raises ``a`` when y is high, so a model that reads ``a`` as an
  input without the outcomes it reacted to sees high y with ``a = 1``: a *positive* association,
  whatever ``beta`` is. Nothing is hidden (the operator sees only the logged ``y``), so the
  effect is identified by the g-formula (sequential ignorability holds).
- **True effect**: ``beta`` per unit of ``a`` per step, carried forward by ``rho``. For plans
  ``a^A``, ``a^B`` over the H steps from an origin ``t0`` and the *same* noise, the difference of
  the paths is exact and noise-free (the dynamics are linear)::

      y^B_{t0+k} - y^A_{t0+k} = beta * sum_{j=0..k} rho^(k-j) * (a^B_{t0+j} - a^A_{t0+j})

  so the effect on ``mean(y over the horizon)`` is the same in every path and at every origin
  (:func:`true_effect`). For "hold a = 1" against "hold a = 0"::

      beta / (1 - rho) * (1 - rho * (1 - rho^H) / (H * (1 - rho)))

  e.g. beta = -0.3, rho = 0.8, H = 8: -0.876. ``beta = 0`` is the negative control (a control
  the operator moves that does nothing); ``beta < 0`` is a positive control (a control that
  lowers y, which the logged association says raises it).

Every random draw (the noise ``eps`` and the operator's exploration draws) is made from the
seed before any plan is known, so :func:`counterfactual` with the logged controls reproduces
the log exactly.

Example::

    >>> from tsloop.sim.controlled import ControlledConfig, simulate, counterfactual, true_effect
    >>> log = simulate(ControlledConfig(series=2, steps=200, beta=-0.3), seed=0)
    >>> import numpy as np
    >>> bool(np.allclose(counterfactual(log, 100, log.a[:, 100:108]), log.y[:, 100:108]))
    True
    >>> round(float(true_effect(log.config, np.zeros(8), np.ones(8))[0]), 3)
    -0.876
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from tsloop.data.spec import TaskSpec
from tsloop.errors import SpecError

TARGET, CONTROL = "y", "a"
KNOWN_FUTURE = ("phase_sin", "phase_cos")


@dataclass(frozen=True)
class ControlledConfig:
    """Sizes and constants of the controlled system (module docstring for the equations)."""

    series: int = 4  # independent units
    steps: int = 2000  # rows per unit
    beta: float = 0.0  # true effect of a = 1 on y_t, per step (0 = negative control)
    rho: float = 0.8  # persistence of y, in [0, 1)
    sigma: float = 0.3  # innovation std of y
    period: int = 24  # steps per seasonal cycle (a day of hours)
    amplitude: float = 1.0  # seasonal amplitude of the load s_t
    level_spread: float = 1.0  # unit levels m_i are drawn uniformly from [-spread, spread]
    threshold: float = 0.25  # the operator sets a = 1 when y_{t-1} > m_i + threshold
    explore: float = 0.05  # probability the operator does the opposite (overlap)
    freq: str = "1h"
    start: str = "2024-01-01 00:00"  # timestamp of step 0

    def __post_init__(self) -> None:
        if self.series < 1 or self.steps < 2 or self.period < 2:
            raise SpecError(f"controlled: need series >= 1, steps >= 2, period >= 2; got {self.series}, "
                            f"{self.steps}, {self.period}")
        if not 0 <= self.rho < 1:
            raise SpecError(f"controlled: rho={self.rho}; expected 0 <= rho < 1 (a stable system)")
        if not 0 <= self.explore <= 1 or self.sigma < 0:
            raise SpecError(f"controlled: explore={self.explore} must lie in [0, 1] and sigma={self.sigma} >= 0")


@dataclass
class ControlledLog:
    """One logged run: the draws made from the seed and the trajectory they gave."""

    config: ControlledConfig
    level: np.ndarray  # (S,) unit levels m_i
    load: np.ndarray  # (S, T) seasonal load s_t
    noise: np.ndarray  # (S, T) eps_t ~ N(0, 1)
    explore_draw: np.ndarray  # (S, T) U(0, 1); the operator flips its move where < explore
    y_init: np.ndarray  # (S,) y_{-1}, the state before step 0
    y: np.ndarray  # (S, T) logged target
    a: np.ndarray  # (S, T) logged control, int64 in {0, 1}

    def state(self, t0: int) -> np.ndarray:
        """y_{t0 - 1} of every unit: all an origin's future depends on besides the plan and noise."""
        return self.y[:, t0 - 1] if t0 > 0 else self.y_init


def phase(config: ControlledConfig, t: np.ndarray) -> np.ndarray:
    """Seasonal phase 2 pi t / period of steps ``t``."""
    return 2 * np.pi * np.asarray(t, dtype=float) / config.period


def operator_policy(config: ControlledConfig, level: np.ndarray, y_prev: np.ndarray, draw: np.ndarray) -> np.ndarray:
    """The logging operator's control from the last observed y (``(S,)`` arrays in, int64 out)."""
    act = y_prev > level + config.threshold
    return np.where(draw < config.explore, ~act, act).astype(np.int64)


def simulate(config: ControlledConfig, seed: int = 0) -> ControlledLog:
    """The logged run under the operator; the same (config, seed) always gives the same run."""
    S, T = config.series, config.steps
    rng = np.random.default_rng(seed)
    level = rng.uniform(-config.level_spread, config.level_spread, size=S)
    noise = rng.standard_normal((S, T))
    draw = rng.uniform(size=(S, T))
    load = level[:, None] + config.amplitude * np.sin(phase(config, np.arange(T)))[None, :]
    y, a = np.empty((S, T)), np.empty((S, T), dtype=np.int64)
    prev = level.copy()  # y_{-1}: the unit starts at its level
    for t in range(T):
        a[:, t] = operator_policy(config, level, prev, draw[:, t])
        prev = step(config, prev, load[:, t], a[:, t], noise[:, t])
        y[:, t] = prev
    return ControlledLog(config, level, load, noise, draw, level.copy(), y, a)


def step(config: ControlledConfig, y_prev, load, a, eps):
    """One step of the dynamics: y_t from y_{t-1}, s_t, a_t and eps_t (any broadcastable shapes)."""
    return config.rho * y_prev + (1 - config.rho) * load + config.beta * a + config.sigma * eps


def counterfactual(log: ControlledLog, t0: int, plan) -> np.ndarray:
    """The exact y over [t0, t0 + H) under ``plan`` (H,) or (S, H), from the logged state at t0
    and with the logged noise: the logged controls give back ``log.y[:, t0:t0 + H]``."""
    plan = np.asarray(plan, dtype=float)
    S, H = log.config.series, plan.shape[-1]
    if t0 < 0 or t0 + H > log.config.steps:
        raise ValueError(f"origin {t0} with horizon {H} leaves the log's {log.config.steps} steps")
    plan = np.broadcast_to(plan, (S, H))
    out = np.empty((S, H))
    prev = log.state(t0)
    for k in range(H):
        prev = step(log.config, prev, log.load[:, t0 + k], plan[:, k], log.noise[:, t0 + k])
        out[:, k] = prev
    return out


def true_effect(config: ControlledConfig, plan_a, plan_b) -> np.ndarray:
    """Exact effect of plan B against plan A on mean(y over the horizon), per unit ``(S,)``.

    Analytic (module docstring): ``mean_k beta * sum_{j<=k} rho^(k-j) (b_j - a_j)``; it holds in
    every noise path and at every origin, so it is also the expected effect."""
    diff = np.asarray(plan_b, float) - np.asarray(plan_a, float)
    H = diff.shape[-1]
    diff = np.broadcast_to(diff, (config.series, H))
    k, j = np.arange(H)[:, None], np.arange(H)[None, :]
    carry = np.where(j <= k, config.rho ** np.clip(k - j, 0, None), 0.0)  # (H, H): y_k's weight on a_j
    return config.beta * (diff @ carry.T).mean(axis=-1)


def series_names(series: int) -> list[str]:
    return [f"unit_{i:02d}" for i in range(series)]


def controlled_frame(log: ControlledLog) -> pd.DataFrame:
    """The log as a long frame: timestamp, series, y, phase_sin, phase_cos, a (unit-major rows)."""
    cfg = log.config
    S, T = log.y.shape
    t = np.arange(T)
    stamps = pd.date_range(cfg.start, periods=T, freq=cfg.freq)
    return pd.DataFrame({
        "timestamp": np.tile(stamps.values, S),
        "series": np.repeat(series_names(S), T),
        TARGET: log.y.reshape(-1),
        "phase_sin": np.tile(np.sin(phase(cfg, t)), S),
        "phase_cos": np.tile(np.cos(phase(cfg, t)), S),
        CONTROL: log.a.reshape(-1),
    })


def controlled_spec(config: ControlledConfig, context_length: int = 48, horizon: int = 8) -> TaskSpec:
    """The what-if task on the frame: target y, known-future phase, intervention a in [0, 1]."""
    return TaskSpec.from_dict({
        "name": f"controlled-beta{config.beta:g}",
        "format": "long",
        "timestamp": "timestamp",
        "series_id": "series",
        "freq": config.freq,
        "target": [TARGET],
        "known_future": list(KNOWN_FUTURE),
        "intervention": [CONTROL],
        "intervention_bounds": {CONTROL: [0, 1]},
        "context_length": context_length,
        "horizon": horizon,
        "split": {"fractions": [0.7, 0.1, 0.2]},
    })


def load_controlled_frame(*, series: int = 4, steps: int = 2000, beta: float = 0.0, explore: float = 0.05,
                          seed: int = 0) -> pd.DataFrame:
    """The logged frame for a few common settings (other constants: :class:`ControlledConfig`)."""
    return controlled_frame(simulate(ControlledConfig(series=series, steps=steps, beta=beta, explore=explore), seed))


def query_frames(frame: pd.DataFrame, spec: TaskSpec, t0: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """History rows [t0 - L, t0) and future rows [t0, t0 + H) (known-future and control columns)
    of every unit: the frames a user passes to ``Forecaster.whatif`` at origin ``t0``."""
    L, H = spec.context_length, spec.horizon
    groups = [g for _, g in frame.groupby(spec.series_id, sort=True)]
    history = pd.concat([g.iloc[t0 - L : t0] for g in groups], ignore_index=True)
    keep = [spec.timestamp, spec.series_id, *spec.known_future, *spec.intervention]
    future = pd.concat([g.iloc[t0 : t0 + H][keep] for g in groups], ignore_index=True)
    return history, future


def constant_plan(future: pd.DataFrame, value: float) -> pd.DataFrame:
    """A plan holding ``a = value`` at every future row (timestamp and series kept)."""
    return future[["timestamp", "series"]].assign(**{CONTROL: value})
