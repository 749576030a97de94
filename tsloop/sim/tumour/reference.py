"""The benchmark metric and three reference predictors of the tumour benchmark.

Metric: RMSE of the volume as a percentage of the death volume (1150.35 cm^3), as the
Causal Transformer code reports it (unscaled, percentage RMSE), per tau.

Predictors, from weakest to the floor:
- persistence: tomorrow's (and every later) volume is today's;
- growth_ls: the growth equation with one pooled (rho, beta_c, radio kill) fitted by least
  squares on the training cohort's factual transitions;
- true_model: each patient's true parameters, without noise (the floor any model can reach,
  up to the noise it cannot foresee).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from tsloop.sim.tumour.model import (
    CARRYING_CAPACITY,
    DEATH_VOLUME,
    RADIO_DOSE,
    Patients,
    chemo_concentration,
)
from tsloop.sim.tumour.protocol import Cohort, TumourBenchmark


def rmse_percent(prediction: np.ndarray, truth: np.ndarray, axis: int | None = None) -> np.ndarray | float:
    """Root mean squared volume error as a percentage of the death volume."""
    return np.sqrt(np.mean((np.asarray(prediction) - np.asarray(truth)) ** 2, axis=axis)) / DEATH_VOLUME * 100.0


def mean_sd(values: list[float] | np.ndarray) -> tuple[float, float]:
    """Mean and sample standard deviation over runs (e.g. the five paper seeds)."""
    arr = np.asarray(values, dtype=float)
    return float(arr.mean()), float(arr.std(ddof=1)) if len(arr) > 1 else 0.0


@dataclass(frozen=True)
class GrowthParams:
    """Parameters of the noise-free growth equation: scalars (pooled) or arrays (per row)."""

    rho: np.ndarray | float
    beta_c: np.ndarray | float
    radio_kill: np.ndarray | float  # alpha d + beta d^2 for one application of d = 2 Gy

    @classmethod
    def of_patients(cls, p: Patients) -> "GrowthParams":
        return cls(p.rho, p.beta_c, p.alpha * RADIO_DOSE + p.beta * RADIO_DOSE**2)

    @classmethod
    def fit(cls, cohort: Cohort) -> "GrowthParams":
        """Pooled least squares of V[t+1] - V[t] on V[t] (log(K/V[t]), -C[t], -radio[t]).

        Fitted in volume units (the metric's), on transitions that neither die nor recover.
        """
        f = cohort.factual
        v0, v1 = f.volume[:, :-1], f.volume[:, 1:]
        ok = np.isfinite(v1) & (v0 > 0) & (v1 > 0) & (v1 < DEATH_VOLUME)
        v0, v1 = v0[ok], v1[ok]
        x = v0[:, None] * np.stack([np.log(CARRYING_CAPACITY / v0), -f.concentration[:, :-1][ok], -f.radio[:, :-1][ok]], 1)
        coef, *_ = np.linalg.lstsq(x, v1 - v0, rcond=None)
        return cls(*coef)

    def take(self, index: np.ndarray) -> "GrowthParams":
        pick = lambda a: a[index] if np.ndim(a) else a  # noqa: E731
        return GrowthParams(pick(self.rho), pick(self.beta_c), pick(self.radio_kill))

    def roll(self, vol: np.ndarray, previous_conc: np.ndarray, treatments: np.ndarray) -> np.ndarray:
        """Volumes after each day of `treatments` (R, k, 2) from today's volume (R,); (R, k)."""
        out = np.empty(treatments.shape[:2])
        conc = previous_conc
        for j in range(treatments.shape[1]):
            conc = chemo_concentration(conc, treatments[:, j, 0])
            growth = self.rho * np.log(CARRYING_CAPACITY / np.maximum(vol, 1e-12))
            nxt = np.clip(vol * (1.0 + growth - self.beta_c * conc - self.radio_kill * treatments[:, j, 1]), 0, DEATH_VOLUME)
            vol = np.where((vol <= 0) | (vol >= DEATH_VOLUME), vol, nxt)
            out[:, j] = vol
        return out


# A predictor maps (cohort, patient rows (R,), today's volume (R,), yesterday's chemo concentration
# (R,), treatments from today (R, k, 2)) to the volumes after each of those k days, (R, k).
Predictor = Callable[[Cohort, np.ndarray, np.ndarray, np.ndarray, np.ndarray], np.ndarray]


def persistence(cohort: Cohort, patient: np.ndarray, vol: np.ndarray, prev: np.ndarray, treat: np.ndarray) -> np.ndarray:
    """Every future volume is today's."""
    return np.repeat(vol[:, None], treat.shape[1], axis=1)


def growth_ls(train: Cohort) -> Predictor:
    """The pooled least-squares growth equation fitted on `train`'s factual transitions."""
    params = GrowthParams.fit(train)
    return lambda cohort, patient, vol, prev, treat: params.roll(vol, prev, treat)


def true_model(cohort: Cohort, patient: np.ndarray, vol: np.ndarray, prev: np.ndarray, treat: np.ndarray) -> np.ndarray:
    """Each patient's own parameters, without noise: the floor."""
    return GrowthParams.of_patients(cohort.patients).take(patient).roll(vol, prev, treat)


def score(bench: TumourBenchmark, predictor: Predictor) -> dict[str, np.ndarray | float]:
    """RMSE % on the one-step set ('one_step') and per tau = 2..6 on each multi-step family, (5,)."""
    cohort, rows = bench.test_one_step, bench.one_step
    f = cohort.factual
    prev = _previous_concentration(f.concentration, rows.patient, rows.day)
    treat = np.stack([rows.chemo, rows.radio], -1)[:, None, :]
    pred = predictor(cohort, rows.patient, f.volume[rows.patient, rows.day], prev, treat)[:, 0]
    out: dict[str, np.ndarray | float] = {"one_step": float(rmse_percent(pred, rows.target))}
    cohort = bench.test_multi_step
    f = cohort.factual
    for family, ms in bench.multi_step.items():
        prev = _previous_concentration(f.concentration, ms.patient, ms.origin)
        today = np.stack([f.chemo[ms.patient, ms.origin], f.radio[ms.patient, ms.origin]], -1)[:, None, :]
        treat = np.concatenate([today, ms.plan], axis=1)  # (R, 6, 2): day t (factual) then the plan
        pred = predictor(cohort, ms.patient, f.volume[ms.patient, ms.origin], prev, treat)[:, 1:]
        out[family] = rmse_percent(pred, ms.target, axis=0)
    return out


def _previous_concentration(conc: np.ndarray, patient: np.ndarray, day: np.ndarray) -> np.ndarray:
    return np.where(day > 0, conc[patient, np.maximum(day - 1, 0)], 0.0)


def reference_predictors(bench: TumourBenchmark) -> dict[str, dict[str, np.ndarray | float]]:
    """Scores of persistence, the pooled least-squares growth fit and the noise-free true model."""
    return {
        "persistence": score(bench, persistence),
        "growth_ls": score(bench, growth_ls(bench.train)),
        "true_model": score(bench, true_model),
    }
