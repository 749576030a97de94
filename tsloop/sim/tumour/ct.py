"""The Causal Transformer code's test sets, reproduced behaviour for behaviour (mode="ct").

The published CT / CRN / RMSN / G-Net tables were scored on test sets made by the Causal
Transformer code (src/data/cancer_sim/cancer_simulation.py), which differs from our default
protocol in four ways. This module reproduces them so that our scores are comparable:

1. test-cohort policy: on day t patient i is treated with the probability of the mean diameter
   of days t-15..t of *row i of the output buffer* (the rows already written, in writing order;
   an unwritten row reads as zeros), not of the patient's own history;
2. training / validation policy: days t-15..t-1, no treatment on day 0
   (`simulate_factual(..., ct_window=True)` in protocol.py);
3. one-step counterfactual targets are not clipped, so some are negative (the factual row's
   target is, and no recovery draw applies to either);
4. multi-step rollouts are not clipped and use log(K / (V + 1e-7) + 1e-7), so a volume below
   zero before the last step makes NaN and the reference drops that row.

A test patient's last origin t is the first day whose factual V[t+1] reaches the death volume
or whose recovery uniform of day t is <= exp(-V[t+1] * density); the volume is not zeroed.
Random numbers come from our per-cohort streams, so values (and row counts) are not
bit-identical to the reference's np.random.seed runs; datasets/tumour/README.md compares the
row counts, and tests/sim/test_tumour_ct.py checks each behaviour.
"""

from __future__ import annotations

import numpy as np

from tsloop.sim.tumour.model import (
    CARRYING_CAPACITY,
    CELL_DENSITY,
    CHEMO_DECAY,
    CHEMO_DOSE,
    DEATH_VOLUME,
    POLICY_WINDOW,
    RADIO_DOSE,
    Patients,
    treatment_probability,
)
from tsloop.sim.tumour.protocol import (
    HORIZON,
    TREATMENTS,
    MultiStepSet,
    OneStepSet,
    Trajectories,
    TumourNoise,
    sliding_plans,
)

CT_OPTION_ORDER = ((0, 0), (0, 1), (1, 0), (1, 1))  # the reference writes (chemo, radio) rows in this order
LOG_GUARD = 1e-7  # the reference's multi-step rollout guards its log with this


def ct_diameter(vol: np.ndarray) -> np.ndarray:
    """Diameter without clipping: a negative buffer volume gives NaN (and then no treatment), as in the reference."""
    with np.errstate(invalid="ignore"):
        return 2.0 * (np.asarray(vol, dtype=float) / (4.0 / 3.0 * np.pi)) ** (1.0 / 3.0)


def _growth(pat: tuple, vol, conc, radio, eps, guard: float = 0.0):
    """Unclipped next volume; `guard` = LOG_GUARD gives the multi-step rollout's log(K/(V+g)+g)."""
    alpha, beta, rho, beta_c = pat
    dose = RADIO_DOSE * radio
    with np.errstate(invalid="ignore", divide="ignore"):
        log_term = np.log(CARRYING_CAPACITY / (vol + guard) + guard)
        return vol * (1.0 + rho * log_term - beta_c * conc - (alpha * dose + beta * dose**2) + eps)


class _Buffer:
    """The reference's output array: rows in writing order; only rows 0..n-1 are ever read."""

    def __init__(self, n: int, width: int):
        self.rows = np.zeros((n, width))
        self.written = 0

    def write(self, content: np.ndarray) -> None:
        if self.written < len(self.rows):
            self.rows[self.written, : len(content)] = content
        self.written += 1

    def probability(self, i: int, t: int, gamma: float) -> float:
        window = self.rows[i, max(t - POLICY_WINDOW, 0) : t + 1]  # 16 days t-15..t, as sliced there
        return float(treatment_probability(gamma, ct_diameter(window).mean()))


def ct_test_cohort(
    patients: Patients,
    noise: TumourNoise,
    gamma: float,
    days: int,
    kind: str,
    plan_rng: np.random.Generator | None = None,
) -> tuple[Trajectories, OneStepSet | dict[str, MultiStepSet]]:
    """Factual trajectories and rows of a CT-style test cohort.

    kind="one_step": the OneStepSet (4 rows per patient-day, unclipped counterfactual targets).
    kind="multi_step": {"sliding_treatment": ..., "random_trajectories": ...}; the buffer (and so
    the factual policy) is driven by the sliding rows, the reference's default `cf_seq_mode`;
    random plans (10 per patient-day, from `plan_rng`) are rolled out on the same factual history.
    """
    n = len(patients)
    buffer = _Buffer(n, days + HORIZON)
    vol = np.full((n, days), np.nan)
    chemo, radio, conc, prob = (np.zeros((n, days)) for _ in range(4))
    length = np.zeros(n, dtype=int)
    death = np.zeros(n, dtype=bool)
    recovery = np.zeros(n, dtype=bool)
    rows: dict[str, list] = {"one_step": [], "sliding_treatment": [], "random_trajectories": []}
    sliding = sliding_plans().astype(float)
    for i in range(n):
        pat = (patients.alpha[i], patients.beta[i], patients.rho[i], patients.beta_c[i])
        v = np.zeros(days)
        v[0] = patients.initial_volume[i]
        previous = 0.0
        for t in range(days - 1):
            p = buffer.probability(i, t, gamma)
            prob[i, t] = p
            ch, ra = float(noise.chemo_u[i, t] < p), float(noise.radio_u[i, t] < p)
            c = previous * CHEMO_DECAY + CHEMO_DOSE * ch
            chemo[i, t], radio[i, t], conc[i, t] = ch, ra, c
            v[t + 1] = np.clip(_growth(pat, v[t], c, ra, noise.eps[i, t + 1]), 0.0, DEATH_VOLUME)
            if kind == "one_step":
                _one_step_rows(pat, v, t, previous, (ch, ra), noise.eps[i, t + 1], buffer, rows["one_step"], i)
            else:
                for family in ("sliding_treatment", "random_trajectories"):
                    plans = sliding if family == "sliding_treatment" else plan_rng.integers(0, 2, sliding.shape).astype(float)
                    kept = _multi_step_rows(pat, v, t, c, plans, noise.eps[i], rows[family], i)
                    if family == "sliding_treatment":
                        for target in kept:
                            buffer.write(np.concatenate([v[: t + 2], target]))
            previous = c
            died = v[t + 1] >= DEATH_VOLUME
            if died or noise.recovery_u[i, t] <= np.exp(-v[t + 1] * CELL_DENSITY):
                death[i], recovery[i] = died, not died
                break
        length[i] = t + 2
        vol[i, : t + 2] = v[: t + 2]
    factual = Trajectories(vol, chemo, radio, conc, prob, length, death, recovery)
    if kind == "one_step":
        return factual, OneStepSet(*(np.array(col) for col in zip(*rows["one_step"])))
    return factual, {family: _multi_step_set(family, rows[family]) for family in ("sliding_treatment", "random_trajectories")}


def _one_step_rows(pat, v, t, previous, factual_option, eps, buffer: _Buffer, out: list, i: int) -> None:
    """Append (patient, day, chemo, radio, factual, target) for the 4 treatments; write the buffer rows."""
    targets = {}
    for ch, ra in CT_OPTION_ORDER:
        is_factual = (ch, ra) == factual_option
        c = previous * CHEMO_DECAY + CHEMO_DOSE * ch
        targets[(ch, ra)] = v[t + 1] if is_factual else float(_growth(pat, v[t], c, ra, eps))
    # the reference writes the factual row first, then the other three in CT_OPTION_ORDER
    for option in [factual_option] + [o for o in CT_OPTION_ORDER if o != factual_option]:
        buffer.write(np.append(v[: t + 1], targets[option]))
    for ch, ra in TREATMENTS:  # our OneStepSet keeps the default mode's treatment order
        out.append((i, t, float(ch), float(ra), (ch, ra) == factual_option, targets[(ch, ra)]))


def _multi_step_rows(pat, v, t, conc, plans, eps_row, out: list, i: int) -> np.ndarray:
    """Roll the (10, 5, 2) plans from V[t+1]; append rows without NaN; return their (K, 5) targets."""
    k = plans.shape[0]
    vol = np.full(k, v[t + 1])
    c = np.full(k, conc)
    target = np.empty((k, HORIZON))
    for j in range(HORIZON):  # day t+1+j gets plans[:, j] and makes V[t+2+j]
        c = c * CHEMO_DECAY + CHEMO_DOSE * plans[:, j, 0]
        vol = _growth(pat, vol, c, plans[:, j, 1], eps_row[t + 2 + j], guard=LOG_GUARD)
        target[:, j] = vol
    keep = ~np.isnan(target).any(axis=1)  # a volume below zero before the last step made NaN
    for r in np.nonzero(keep)[0]:
        out.append((i, t, plans[r], target[r]))
    return target[keep]


def _multi_step_set(family: str, rows: list) -> MultiStepSet:
    if not rows:
        return MultiStepSet(family, np.zeros(0, int), np.zeros(0, int), np.zeros((0, HORIZON, 2)), np.zeros((0, HORIZON)))
    patient, origin, plan, target = zip(*rows)
    return MultiStepSet(family, np.array(patient), np.array(origin), np.stack(plan), np.stack(target))
