"""Tumour cohorts as window tensors, the protocol's queries, and their scoring (RMSE %, plan ranking).

Windows put the treatment next to the volume it acts on: row s of a patient holds log V[s] and the
applications of day s - 1 (chemo, radio), so a window at origin t has the context rows t-14..t
(V[0..t] and treatments of days ..t-1, all factual) and the horizon rows t+1..t+6 (the treatments
of days t..t+5 and the volumes V[t+1..t+6] they lead to). The protocol's queries are then:

- one-step: origin t = day, horizon control row 1 = the candidate treatment of day t (later rows:
  no treatment; they cannot act on V[t+1]), score step 1;
- multi-step: origin t, horizon control rows = [factual treatment of day t, the 5-day plan],
  score steps 2..6 (tau = 2..6).

Volumes enter the learned models as z = (log V - mu) / sd with mu, sd of the training cohort's
observed log volumes; V = 0 (recovery, reached only below ~1e-8 cm^3) is masked as missing.

Example::

    bench = make_benchmark(4, 10, n_train=1000, n_val=200, n_test=100)
    scale = LogScale.fit(bench.train)
    arrays = CohortArrays.of(bench.train, scale)
    data = arrays.windows(arrays.origins())          # dict of (N, L, C) / (N, H, C) tensors
    q = queries(bench)                               # one-step and multi-step rows
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from tsloop.metrics import plan_ranking
from tsloop.sim.tumour.model import DEATH_VOLUME
from tsloop.sim.tumour.protocol import HORIZON, Cohort, TumourBenchmark
from tsloop.sim.tumour.reference import Predictor, rmse_percent

CONTEXT = 15  # days of history per window (the task file's context_length)
STEPS = HORIZON + 1  # horizon rows: V[t+1] (one-step) .. V[t+6] (tau = 6)
FAMILIES = ("sliding_treatment", "random_trajectories")
MATERIAL_GAP = 0.001 * DEATH_VOLUME  # cm^3: plan pairs closer than 0.1 % of the death volume are not ranked


@dataclass(frozen=True)
class LogScale:
    """z = (log V - mu) / sd, fitted on a cohort's observed positive volumes."""

    mu: float
    sd: float

    @classmethod
    def fit(cls, cohort: Cohort) -> "LogScale":
        v = cohort.factual.volume
        logs = np.log(v[np.isfinite(v) & (v > 0)])
        return cls(float(logs.mean()), float(logs.std()))

    def to_z(self, volume: np.ndarray) -> np.ndarray:
        """Volumes -> z; NaN where the volume is missing or not positive."""
        v = np.asarray(volume, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(np.isfinite(v) & (v > 0), (np.log(np.where(v > 0, v, 1.0)) - self.mu) / self.sd, np.nan)

    def to_volume(self, z: np.ndarray) -> np.ndarray:
        return np.clip(np.exp(np.asarray(z) * self.sd + self.mu), 0.0, DEATH_VOLUME)


@dataclass(frozen=True)
class CohortArrays:
    """A cohort's rows, left-padded by CONTEXT - 1 empty days: z (N, P), controls (N, P, 2), masks."""

    z: np.ndarray  # (N, P) NaN where missing
    control: np.ndarray  # (N, P, 2) applications of the previous day (0 where none)
    control_given: np.ndarray  # (N, P) 1 on rows of a real previous day (day >= 1)
    patient_type: np.ndarray  # (N,) 1, 2, 3
    length: np.ndarray  # (N,) observed days

    @classmethod
    def of(cls, cohort: Cohort, scale: LogScale) -> "CohortArrays":
        f = cohort.factual
        n, days = f.volume.shape
        pad = CONTEXT - 1
        z = np.full((n, pad + days + STEPS), np.nan)
        z[:, pad : pad + days] = scale.to_z(f.volume)
        control = np.zeros((n, pad + days + STEPS, 2))
        control[:, pad + 1 : pad + days, 0] = f.chemo[:, :-1]
        control[:, pad + 1 : pad + days, 1] = f.radio[:, :-1]
        given = np.zeros((n, pad + days + STEPS))
        given[:, pad + 1 : pad + days] = 1.0
        return cls(z, control, given, cohort.patients.patient_type.astype(int), f.length)

    def origins(self) -> tuple[np.ndarray, np.ndarray]:
        """Every (patient, day t) with a next observed day: t = 0 .. length - 2 (the protocol's origins)."""
        days = self.z.shape[1] - (CONTEXT - 1) - STEPS
        return np.nonzero(np.arange(days - 1)[None, :] < (self.length - 1)[:, None])

    def windows(self, patient: np.ndarray, origin: np.ndarray, future_control: np.ndarray | None = None) -> dict:
        """Batch-contract tensors for origins t (R,); `future_control` (R, STEPS, 2) replaces the factual one."""
        rows = origin[:, None] + np.arange(CONTEXT + STEPS)[None, :]  # padded row of day t-14 is t
        z = self.z[patient[:, None], rows]  # (R, L + H)
        ctrl = self.control[patient[:, None], rows]  # (R, L + H, 2)
        given = np.repeat(self.control_given[patient[:, None], rows][..., None], 2, axis=-1)
        observed = np.isfinite(z)
        if future_control is not None:
            ctrl[:, CONTEXT:] = future_control
            given[:, CONTEXT:] = 1.0
        r = len(patient)
        t = lambda a: torch.as_tensor(np.asarray(a, dtype=np.float32))  # noqa: E731
        past, fut = slice(0, CONTEXT), slice(CONTEXT, None)
        return {
            "past_target": t(np.where(observed, z, 0.0)[:, past, None]),  # (R, L, 1)
            "past_target_mask": t(observed[:, past, None]),
            "future_target": t(np.where(observed, z, 0.0)[:, fut, None]),  # (R, H, 1)
            "future_target_mask": t(observed[:, fut, None]),
            "past_exog": torch.zeros(r, CONTEXT, 0),
            "past_known": torch.zeros(r, CONTEXT, 0),
            "future_known": torch.zeros(r, STEPS, 0),
            "past_control": t(ctrl[:, past]),
            "past_control_mask": t(given[:, past]),
            "future_control": t(ctrl[:, fut]),
            "future_control_mask": t(given[:, fut]),
            "past_event": torch.zeros(r, CONTEXT, 0),
            "future_event": torch.zeros(r, STEPS, 0),
            "static": t(self.patient_type[patient, None] - 2.0),  # (R, 1)
            "series_index": torch.as_tensor(patient, dtype=torch.long),
            "window_start": torch.as_tensor(origin, dtype=torch.long),
        }


class WindowTensors(torch.utils.data.Dataset):
    """Precomputed batch-contract tensors, one item per window."""

    def __init__(self, tensors: dict):
        self.tensors = tensors

    def __len__(self) -> int:
        return len(self.tensors["series_index"])

    def __getitem__(self, i: int) -> dict:
        return {k: v[i] for k, v in self.tensors.items()}


@dataclass(frozen=True)
class Query:
    """Rows of one query set: origins, horizon controls (R, STEPS, 2), exact targets, scored steps."""

    patient: np.ndarray  # (R,)
    origin: np.ndarray  # (R,)
    control: np.ndarray  # (R, STEPS, 2) treatments of days t .. t+5
    target: np.ndarray  # (R, S) exact counterfactual volumes of the scored steps
    steps: slice  # which of the STEPS predicted volumes are scored

    def __len__(self) -> int:
        return len(self.patient)


def queries(bench: TumourBenchmark) -> dict[str, Query]:
    """The protocol's one-step set and both multi-step families as Query rows."""
    os_ = bench.one_step
    control = np.zeros((len(os_.patient), STEPS, 2))
    control[:, 0] = np.stack([os_.chemo, os_.radio], -1)
    out = {"one_step": Query(os_.patient, os_.day, control, os_.target[:, None], slice(0, 1))}
    f = bench.test_multi_step.factual
    for family in FAMILIES:
        ms = bench.multi_step[family]
        today = np.stack([f.chemo[ms.patient, ms.origin], f.radio[ms.patient, ms.origin]], -1)[:, None]
        out[family] = Query(ms.patient, ms.origin, np.concatenate([today, ms.plan], 1), ms.target, slice(1, STEPS))
    return out


def query_cohort(bench: TumourBenchmark, name: str) -> Cohort:
    return bench.test_one_step if name == "one_step" else bench.test_multi_step


def reference_volumes(predictor: Predictor, cohort: Cohort, q: Query) -> np.ndarray:
    """A reference predictor's volumes V[t+1..t+6] (R, STEPS) for a query set."""
    f = cohort.factual
    prev = np.where(q.origin > 0, f.concentration[q.patient, np.maximum(q.origin - 1, 0)], 0.0)
    return predictor(cohort, q.patient, f.volume[q.patient, q.origin], prev, q.control)


def rmse_scores(pred: np.ndarray, q: Query) -> np.ndarray:
    """RMSE % of the death volume per scored step, (S,): pred (R, STEPS)."""
    return np.atleast_1d(rmse_percent(pred[:, q.steps], q.target, axis=0))


def complete_plan_groups(patient: np.ndarray, origin: np.ndarray, plans: int = 2 * HORIZON) -> np.ndarray:
    """Bool mask of the rows whose (patient, origin) has all `plans` rows, so ranking_scores can group them.

    Every row in the default test sets; the CT-compatible sets drop rows whose rollout hit NaN.
    Rows of one patient-day must be consecutive (both generators write them so).
    """
    key = np.asarray(patient, dtype=np.int64) * 1_000_000 + np.asarray(origin, dtype=np.int64)
    _, inverse, counts = np.unique(key, return_inverse=True, return_counts=True)
    return counts[inverse] == plans


def ranking_scores(pred_final: np.ndarray, true_final: np.ndarray, plans: int = 2 * HORIZON,
                   material: float = MATERIAL_GAP) -> dict[str, float]:
    """Plan ranking by final volume (lower is better) within each group of `plans` consecutive rows
    (:func:`tsloop.metrics.plan_ranking`, `material` in cm^3), with the regret in % of the death volume."""
    out = plan_ranking(pred_final, true_final, plans, material)
    out["regret_pct"] = out.pop("regret") / DEATH_VOLUME * 100.0
    return out
