"""The counterfactual benchmark protocol of RMSN / CRN / Causal Transformer on the tumour model.

Noise is drawn per patient before any treatment is known (common random numbers), so a
counterfactual differs from the factual trajectory only by the treatments. Treatment on
day t acts on the volume of day t+1.

Example (small cohorts; the papers' sizes are ``COHORT_SIZES``: 10,000 / 1,000 / 1,000 / 1,000)::

    >>> from tsloop.sim.tumour.cohorts import make_benchmark
    >>> bench = make_benchmark(gamma=4, seed=10, n_train=200, n_val=20, n_test=20)
    >>> bench.one_step.target.shape                       # (R,) V[t+1] under each of the 4 treatments
    (4720,)
    >>> bench.multi_step["sliding_treatment"].target.shape   # (R, 5) V[t+2..t+6]
    (11220, 5)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tsloop.errors import SpecError
from tsloop.sim.tumour.model import (
    DEATH_VOLUME,
    NOISE_SD,
    POLICY_WINDOW,
    Patients,
    chemo_concentration,
    diameter,
    grow,
    treatment_probability,
)

DAYS = 60  # max_seq_length
HORIZON = 5  # projection_horizon: plans cover days t+1..t+5, targets V[t+2..t+6] (tau = 2..6)
COHORTS = ("train", "val", "test_one_step", "test_multi_step")
COHORT_SIZES = {"train": 10_000, "val": 1_000, "test_one_step": 1_000, "test_multi_step": 1_000}
PAPER_SEEDS = (10, 101, 1010, 10101, 101010)
TREATMENTS = np.array([[0, 0], [1, 0], [0, 1], [1, 1]])  # (chemo, radio): none, chemo, radio, both


@dataclass(frozen=True)
class TumourNoise:
    """Everything random about a cohort's days, drawn before treatments: arrays (N, days + HORIZON + 1)."""

    eps: np.ndarray  # relative growth noise of the volume on each day
    recovery_u: np.ndarray  # uniforms of the recovery draw on each day
    chemo_u: np.ndarray  # uniforms of the policy's chemo draw on each day
    radio_u: np.ndarray  # uniforms of the policy's radio draw on each day

    @classmethod
    def draw(cls, n: int, days: int, rng: np.random.Generator) -> "TumourNoise":
        shape = (n, days + HORIZON + 1)
        return cls(NOISE_SD * rng.standard_normal(shape), rng.random(shape), rng.random(shape), rng.random(shape))


@dataclass(frozen=True)
class Trajectories:
    """Factual trajectories, arrays (N, days); after a patient's last day volume is NaN and treatments 0."""

    volume: np.ndarray  # cm^3
    chemo: np.ndarray  # 0/1 application on the day
    radio: np.ndarray  # 0/1 application on the day
    concentration: np.ndarray  # chemo concentration on the day (after that day's application)
    chemo_probability: np.ndarray  # the policy's assignment probability (the propensity)
    length: np.ndarray  # (N,) days observed (the last is a death or recovery day if it ended early)
    death: np.ndarray  # (N,) bool, the tumour reached the death volume on day length-1
    recovery: np.ndarray  # (N,) bool, the tumour was cured on day length-1


@dataclass(frozen=True)
class Cohort:
    """One cohort of the benchmark: patients, their noise and their factual trajectories."""

    patients: Patients
    noise: TumourNoise
    factual: Trajectories


def simulate_factual(
    patients: Patients,
    noise: TumourNoise,
    gamma: float,
    days: int = DAYS,
    plan: np.ndarray | None = None,
    ct_window: bool = False,
) -> Trajectories:
    """Trajectories under the confounded policy (or an assigned `plan`, (N, days, 2) of 0/1).

    On day t the policy treats with probability sigmoid(gamma/D_max (mean diameter over days
    t-14..t - D_max/2)), chemo and radio drawn independently. With `ct_window` it averages days
    t-15..t-1 instead and never treats on day 0, as the Causal Transformer code's training and
    validation cohorts do (see tsloop/sim/tumour/ct.py).
    """
    n = len(patients)
    vol = np.full((n, days), np.nan)
    chemo, radio, conc, prob = (np.zeros((n, days)) for _ in range(4))
    diam = np.zeros((n, days))
    vol[:, 0] = patients.initial_volume
    alive = np.ones(n, dtype=bool)
    length = np.full(n, days)
    death = np.zeros(n, dtype=bool)
    recovery = np.zeros(n, dtype=bool)
    for t in range(days):
        diam[:, t] = diameter(vol[:, t])
        if not ct_window:
            p = treatment_probability(gamma, diam[:, max(0, t - POLICY_WINDOW + 1) : t + 1].mean(axis=1))
        elif t == 0:  # the reference loop starts at day 1: nothing is assigned on day 0
            p = np.zeros(n)
        else:
            p = treatment_probability(gamma, diam[:, max(0, t - POLICY_WINDOW) : t].mean(axis=1))
        prob[:, t] = np.where(alive, p, 0.0)
        if plan is None:
            chemo[:, t] = alive & (noise.chemo_u[:, t] < p)
            radio[:, t] = alive & (noise.radio_u[:, t] < p)
        else:
            chemo[:, t], radio[:, t] = alive * plan[:, t, 0], alive * plan[:, t, 1]
        conc[:, t] = chemo_concentration(conc[:, t - 1] if t else 0.0, chemo[:, t])
        if t == days - 1:
            break
        nxt = grow(patients, vol[:, t], conc[:, t], radio[:, t], noise.eps[:, t + 1], noise.recovery_u[:, t + 1])
        vol[:, t + 1] = np.where(alive, nxt, np.nan)
        died, cured = alive & (nxt >= DEATH_VOLUME), alive & (nxt <= 0.0)
        death |= died
        recovery |= cured
        length = np.where(died | cured, t + 2, length)
        alive &= ~(died | cured)
    return Trajectories(vol, chemo, radio, conc, prob, length, death, recovery)


@dataclass(frozen=True)
class OneStepSet:
    """One-step counterfactuals: for every patient-day t with a next day, all 4 treatments; rows (R,)."""

    patient: np.ndarray  # row of the cohort
    day: np.ndarray  # t: history V[0..t] and treatments [0..t-1] are factual
    chemo: np.ndarray  # treatment on day t (0/1)
    radio: np.ndarray
    factual: np.ndarray  # bool, this row's treatment is the one the policy gave
    target: np.ndarray  # V[t+1] under this treatment, cm^3


def one_step_counterfactuals(cohort: Cohort) -> OneStepSet:
    """All 4 treatments at every patient-day t = 0..length-2, each with its exact next-day volume."""
    f, p = cohort.factual, cohort.patients
    days = f.volume.shape[1]
    patient, day = np.nonzero(np.arange(days - 1)[None, :] < (f.length - 1)[:, None])  # (M,) each
    rows = np.repeat(np.arange(len(patient)), 4)
    option = np.tile(np.arange(4), len(patient))
    patient, day = patient[rows], day[rows]
    chemo, radio = TREATMENTS[option, 0].astype(float), TREATMENTS[option, 1].astype(float)
    previous = np.where(day > 0, f.concentration[patient, np.maximum(day - 1, 0)], 0.0)
    target = grow(
        p.take(patient),
        f.volume[patient, day],
        chemo_concentration(previous, chemo),
        radio,
        cohort.noise.eps[patient, day + 1],
        cohort.noise.recovery_u[patient, day + 1],
    )
    factual = (f.chemo[patient, day] == chemo) & (f.radio[patient, day] == radio)
    return OneStepSet(patient, day, chemo, radio, factual, target)


@dataclass(frozen=True)
class MultiStepSet:
    """Multi-step counterfactuals from origins t: rows (R,), plans (R, 5, 2), targets (R, 5)."""

    family: str  # "sliding_treatment" or "random_trajectories"
    patient: np.ndarray
    origin: np.ndarray  # t: V[0..t] and treatments [0..t] are factual
    plan: np.ndarray  # (R, 5, 2) 0/1 chemo, radio on days t+1..t+5
    target: np.ndarray  # (R, 5) V[t+2..t+6], i.e. tau = 2..6 days after the origin


def sliding_plans(horizon: int = HORIZON) -> np.ndarray:
    """The 2*horizon 'sliding treatment' plans: one chemo (then one radio) on day k of the horizon."""
    eye = np.eye(horizon, dtype=int)
    zero = np.zeros_like(eye)
    return np.concatenate([np.stack([eye, zero], -1), np.stack([zero, eye], -1)])  # (10, 5, 2)


def multi_step_counterfactuals(cohort: Cohort, family: str, rng: np.random.Generator | None = None) -> MultiStepSet:
    """From every origin t = 0..length-2, 10 plans rolled over days t+1..t+5 with the cohort's noise.

    'sliding_treatment' uses the same 10 plans everywhere; 'random_trajectories' draws 10 random
    binary plans per patient-origin from `rng`. V[t+1] is the factual next volume.
    """
    f = cohort.factual
    days = f.volume.shape[1]
    patient, origin = np.nonzero(np.arange(days - 1)[None, :] < (f.length - 1)[:, None])
    k = 2 * HORIZON
    if family == "sliding_treatment":
        plans = np.broadcast_to(sliding_plans(), (len(patient), k, HORIZON, 2))
    elif family == "random_trajectories":
        if rng is None:
            raise SpecError("multi_step_counterfactuals: 'random_trajectories' needs an rng to draw plans.")
        plans = rng.integers(0, 2, (len(patient), k, HORIZON, 2))
    else:
        raise SpecError(f"unknown counterfactual family {family!r}; expected 'sliding_treatment' or 'random_trajectories'.")
    patient, origin = np.repeat(patient, k), np.repeat(origin, k)
    plans = plans.reshape(-1, HORIZON, 2).astype(float)
    return MultiStepSet(family, patient, origin, plans, counterfactual_rollout(cohort, patient, origin, plans))


def counterfactual_rollout(cohort: Cohort, patient: np.ndarray, origin: np.ndarray, plans: np.ndarray) -> np.ndarray:
    """Exact volumes V[t+2..t+1+k] (R, k) when patient rows (R,) follow their factual history up to
    day t = origin and then `plans` (R, k, 2) on days t+1..t+k, on the cohort's own noise."""
    f, noise = cohort.factual, cohort.noise
    pp = cohort.patients.take(patient)
    vol = f.volume[patient, origin + 1]  # the factual V[t+1]
    conc = f.concentration[patient, origin]
    target = np.empty(plans.shape[:2])
    for j in range(plans.shape[1]):  # day t+1+j gets plans[:, j] and makes V[t+2+j]
        conc = chemo_concentration(conc, plans[:, j, 0])
        day = origin + 2 + j
        vol = grow(pp, vol, conc, plans[:, j, 1], noise.eps[patient, day], noise.recovery_u[patient, day])
        target[:, j] = vol
    return target


@dataclass(frozen=True)
class TumourBenchmark:
    """All cohorts of one (gamma, seed) run of the protocol."""

    gamma: float
    seed: int
    train: Cohort
    val: Cohort
    test_one_step: Cohort
    test_multi_step: Cohort
    one_step: OneStepSet
    multi_step: dict[str, MultiStepSet]


MODES = ("default", "ct")
