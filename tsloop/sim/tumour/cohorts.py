"""Making the protocol's cohorts and benchmarks, in the default or the Causal Transformer (ct) mode.

Here, not in ``protocol``, because the ct mode's generators (``ct.py``) build on the protocol's types.
"""

from __future__ import annotations

import numpy as np

from tsloop.errors import SpecError
from tsloop.sim.tumour.ct import ct_test_cohort
from tsloop.sim.tumour.model import Patients
from tsloop.sim.tumour.protocol import (
    COHORT_SIZES,
    COHORTS,
    DAYS,
    MODES,
    Cohort,
    TumourBenchmark,
    TumourNoise,
    multi_step_counterfactuals,
    one_step_counterfactuals,
    simulate_factual,
)


def _cohort_rng(seed: int, name: str) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(seed).spawn(len(COHORTS) + 1)[COHORTS.index(name)])


def _plan_rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(seed).spawn(len(COHORTS) + 1)[-1])


def _draw(name: str, gamma: float, seed: int, n: int | None, days: int, mode: str) -> tuple[Patients, TumourNoise]:
    """Validate the arguments and draw a cohort's patients and noise from its own stream."""
    if name not in COHORTS:
        raise SpecError(f"unknown tumour cohort {name!r}; expected one of {', '.join(COHORTS)}.")
    if mode not in MODES:
        raise SpecError(f"unknown tumour mode {mode!r}; expected one of {', '.join(MODES)}.")
    if gamma < 0:
        raise SpecError(f"tumour: gamma={gamma}; expected >= 0 (the papers use 0..4).")
    if not 2 <= days <= 200:
        raise SpecError(f"tumour: days={days}; expected 2..200 (the protocol uses 60).")
    n = COHORT_SIZES[name] if n is None else n
    if n < 1:
        raise SpecError(f"tumour: patients={n}; expected at least 1.")
    rng = _cohort_rng(seed, name)
    patients = Patients.draw(n, rng)
    return patients, TumourNoise.draw(n, days, rng)


def make_cohort(
    name: str, gamma: float, seed: int, n: int | None = None, days: int = DAYS, mode: str = "default"
) -> Cohort:
    """One cohort; its randomness depends only on (seed, name), so any cohort can be made alone.

    mode="ct" gives the Causal Transformer code's policies (tsloop/sim/tumour/ct.py): a lagged
    window for train/val, and for the test cohorts the factual part of its test generators.
    """
    patients, noise = _draw(name, gamma, seed, n, days, mode)
    if mode == "ct" and name.startswith("test"):
        kind = "one_step" if name == "test_one_step" else "multi_step"
        factual, _ = ct_test_cohort(patients, noise, gamma, days, kind, _plan_rng(seed))
        return Cohort(patients, noise, factual)
    return Cohort(patients, noise, simulate_factual(patients, noise, gamma, days, ct_window=mode == "ct"))


def make_benchmark(
    gamma: float,
    seed: int,
    n_train: int = COHORT_SIZES["train"],
    n_val: int = COHORT_SIZES["val"],
    n_test: int = COHORT_SIZES["test_one_step"],
    days: int = DAYS,
    mode: str = "default",
) -> TumourBenchmark:
    """Train/val factual cohorts and two test cohorts with one-step and multi-step counterfactuals.

    mode="ct" builds the Causal Transformer code's test sets (see tsloop/sim/tumour/ct.py).
    """
    sizes = {"train": n_train, "val": n_val, "test_one_step": n_test, "test_multi_step": n_test}
    if mode == "ct":
        cohorts = {name: make_cohort(name, gamma, seed, sizes[name], days, mode) for name in ("train", "val")}
        drawn = {name: _draw(name, gamma, seed, sizes[name], days, mode) for name in ("test_one_step", "test_multi_step")}
        f1, one = ct_test_cohort(*drawn["test_one_step"], gamma, days, "one_step")
        fm, multi = ct_test_cohort(*drawn["test_multi_step"], gamma, days, "multi_step", _plan_rng(seed))
        cohorts["test_one_step"] = Cohort(*drawn["test_one_step"], f1)
        cohorts["test_multi_step"] = Cohort(*drawn["test_multi_step"], fm)
        return TumourBenchmark(gamma, seed, **cohorts, one_step=one, multi_step=multi)
    cohorts = {name: make_cohort(name, gamma, seed, sizes[name], days, mode) for name in COHORTS}
    plan_rng = _plan_rng(seed)
    multi = {
        family: multi_step_counterfactuals(cohorts["test_multi_step"], family, plan_rng)
        for family in ("sliding_treatment", "random_trajectories")
    }
    return TumourBenchmark(gamma, seed, **cohorts, one_step=one_step_counterfactuals(cohorts["test_one_step"]), multi_step=multi)
