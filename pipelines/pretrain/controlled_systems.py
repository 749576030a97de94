"""Synthetic controlled systems: first-order plants whose control has a known, recorded effect.

Each series is one unit with its own constants (``SystemParams``, drawn at random)::

    s_t = level + amplitude * sin(2 pi t / period)                       (seasonal load)
    y_t = rho * y_{t-1} + (1 - rho) * s_t + beta * u_{t-lag} + sigma * eps_t,   eps_t ~ N(0, 1)

with u_t = 0 before the log starts. The logging operator reacts to the last observed y: it
sets u_t from p_t = sigmoid(gain * (y_{t-1} - level) / sigma_y) (a 0/1 control drawn with
probability p_t, or the continuous control p_t itself in [0, 1]), and with probability
``explore`` it plays a uniformly random control instead. So u is confounded with y (gain > 0
raises u when y is high, whatever the sign of beta), and ``explore`` sets the overlap.
This generalises ``tsloop.sim.controlled`` (binary control, no lag) to a delay and a
continuous control; beta = 0 units are negative controls.

**Recorded effect** (columns of role ``truth``): for plans B = "u = 1 from t0 on" and A = "u = 0
from t0 on" over ``horizon`` steps, history before t0 as logged and the same noise, the linear
dynamics give, in every path and at every origin,

    mean_k (y^B - y^A)_{t0+k} = beta / H * sum_{k=lag}^{H-1} (1 - rho^(k-lag+1)) / (1 - rho)

(``step_effect``); ``rerun`` re-simulates any plan from a logged state, to check it directly.

Example::

    >>> rng = np.random.default_rng(0)
    >>> params = draw_params(rng)
    >>> log = simulate(params, 500, rng)
    >>> hold = lambda v: np.full(24, float(v))
    >>> effect = (rerun(log, 200, hold(1)) - rerun(log, 200, hold(0))).mean()
    >>> bool(np.isclose(effect, step_effect(params, 24)))
    True
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

EFFECT_HORIZON = 24  # steps of the recorded hold-1-vs-hold-0 effect
NEGATIVE_SHARE = 0.2  # share of units whose control does nothing (beta = 0)
PERIODS = (12, 24, 48, 168)  # steps per seasonal cycle
MAX_LAG = 6  # steps between a control and the first y it moves
# every constant of a unit and its recorded effect are columns of role "truth" (not model inputs)
TRUTH = ("rho", "beta", "lag", "sigma", "level", "amplitude", "period", "gain", "explore", "binary", "effect")
ROLES = {"y": "target", "phase_sin": "known_future", "phase_cos": "known_future", "u": "intervention",
         **{name: "truth" for name in TRUTH}}


@dataclass(frozen=True)
class SystemParams:
    """Constants of one unit (module docstring for the equations)."""

    rho: float  # persistence of y, in [0, 1)
    beta: float  # effect of u on y, lag steps later, per unit of u
    lag: int  # steps from a control to the first y it moves
    sigma: float  # innovation std of y
    level: float
    amplitude: float  # of the seasonal load
    period: int  # steps per seasonal cycle
    gain: float  # how strongly the operator reacts to y (0 = blind)
    explore: float  # chance per step of a uniformly random control
    binary: bool  # u in {0, 1}; else u in [0, 1]


@dataclass
class SystemLog:
    """One logged unit: its constants, every random draw, and the trajectory they gave."""

    params: SystemParams
    load: np.ndarray  # (T,) s_t
    noise: np.ndarray  # (T,) eps_t
    y: np.ndarray  # (T,)
    u: np.ndarray  # (T,)


def draw_params(rng: np.random.Generator) -> SystemParams:
    """A random unit: persistence, effect size and sign, delay, noise, season and operator."""
    beta = 0.0 if rng.random() < NEGATIVE_SHARE else float(rng.uniform(-1.0, 1.0))
    return SystemParams(
        rho=float(rng.uniform(0.5, 0.95)),
        beta=beta,
        lag=int(rng.integers(0, MAX_LAG + 1)),
        sigma=float(rng.uniform(0.1, 0.5)),
        level=float(rng.uniform(-1.0, 1.0)),
        amplitude=float(rng.uniform(0.0, 1.5)),
        period=int(PERIODS[rng.integers(len(PERIODS))]),
        gain=float(rng.uniform(0.0, 4.0)),
        explore=float(rng.uniform(0.02, 0.3)),
        binary=bool(rng.random() < 0.5),
    )


def simulate(params: SystemParams, steps: int, rng: np.random.Generator) -> SystemLog:
    """The logged run under the reacting operator; all draws are made before the loop."""
    p = params
    t = np.arange(steps)
    load = p.level + p.amplitude * np.sin(2 * np.pi * t / p.period)
    noise = rng.standard_normal(steps)
    explore_draw, explore_value, act_draw = rng.random(steps), rng.random(steps), rng.random(steps)
    spread = max(p.sigma / np.sqrt(1 - p.rho**2), 1e-6)  # stationary sd of y's noise part
    y, u = np.empty(steps), np.zeros(steps)
    prev = p.level
    for k in range(steps):
        react = 1.0 / (1.0 + math.exp(min(50.0, -p.gain * (prev - p.level) / spread)))
        if explore_draw[k] < p.explore:
            u[k] = float(explore_value[k] < 0.5) if p.binary else explore_value[k]
        else:
            u[k] = float(act_draw[k] < react) if p.binary else react
        prev = step(p, prev, load[k], u[k - p.lag] if k >= p.lag else 0.0, noise[k])
        y[k] = prev
    return SystemLog(p, load, noise, y, u)


def step(p: SystemParams, y_prev: float, load: float, u_lagged: float, eps: float) -> float:
    """y_t from y_{t-1}, s_t, u_{t-lag} and eps_t."""
    return p.rho * y_prev + (1 - p.rho) * load + p.beta * u_lagged + p.sigma * eps


def rerun(log: SystemLog, t0: int, plan: np.ndarray) -> np.ndarray:
    """y over [t0, t0 + H) when ``plan`` (H,) sets u from t0 on: logged state, controls and noise before."""
    p, H = log.params, len(plan)
    if t0 < 1 or t0 + H > len(log.y):
        raise ValueError(f"origin {t0} with horizon {H} leaves the log's {len(log.y)} steps")
    u = log.u.copy()
    u[t0 : t0 + H] = plan
    out, prev = np.empty(H), log.y[t0 - 1]
    for k in range(H):
        t = t0 + k
        prev = step(p, prev, log.load[t], u[t - p.lag] if t >= p.lag else 0.0, log.noise[t])
        out[k] = prev
    return out


def step_effect(params: SystemParams, horizon: int = EFFECT_HORIZON) -> float:
    """Exact effect of holding u = 1 instead of u = 0 over ``horizon`` steps on mean y (module docstring)."""
    p = params
    k = np.arange(p.lag, horizon)
    return float(p.beta * np.sum((1 - p.rho ** (k - p.lag + 1)) / (1 - p.rho)) / horizon)


def controlled_frame(n: int, steps: int, seed: int) -> pd.DataFrame:
    """``n`` logged units as a corpus frame, each unit's constants and recorded effect as truth columns."""
    frames = []
    for i, child in enumerate(np.random.SeedSequence(seed).spawn(n)):
        rng = np.random.default_rng(child)
        params = draw_params(rng)
        log = simulate(params, steps, rng)
        effect = step_effect(params)
        phase = 2 * np.pi * np.arange(steps) / params.period
        frames.append(pd.DataFrame({
            "series_id": f"controlled/{i:05d}",
            "step": np.arange(steps, dtype=np.int64),
            "timestamp": np.full(steps, np.datetime64("NaT", "ns")),
            "y": log.y, "phase_sin": np.sin(phase), "phase_cos": np.cos(phase), "u": log.u,
            **{name: float(value) for name, value in asdict(params).items()}, "effect": effect,
        }))
    return pd.concat(frames, ignore_index=True)
