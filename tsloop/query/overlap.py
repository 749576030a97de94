"""Overlap (support): whether a plan stays where the training log shows the operator acting.

A world model learns what the controls did from the controls the logging operator chose. A plan
that sets a control the operator never chose in such a state asks the model to extrapolate, and
its forecast there is a guess however narrow its sample paths are. The model's logging-policy
head gives, per series, horizon step and intervention channel, the two-sided tail probability of
the planned value under that policy given the (simulated) state (``ForecastResult.control_support``,
averaged over sample paths). A model trained since 2026-12-07 calibrates it on the validation
part's logged controls (split conformal, ``tsloop/model/policy.py``), so each step's value is a
p-value: the share of the operator's own choices that lay at least as far out. Without that the
rules below are not valid. On suite 4's plant (confounding 0, seed 0) the raw tails put 22 % of
the operator's logged replica steps below 0.05, and the minimum rule below flagged the logged plan
itself in 18 % of (origin, cluster) pairs; calibrated, in 4.7 %. This module turns it into one score per plan and series, a label,
and a guard on the answer shown to the user.

The score of a plan is a p-value for "the operator could have chosen this plan": small when the
plan keeps a control where the operator was not seen putting it in such states. Per control
channel c, of the tail probabilities u_{t,c} of the n_c steps the plan sets, two p-values are
valid whatever the dependence between steps: twice their mean (Rüschendorf 1982; Vovk & Wang,
"Combining p-values via averaging", Biometrika 2020), which sees a plan that stays a little off
the policy for many steps, and n_c times their minimum (Bonferroni), which sees a plan that
jumps far outside it at one step and then looks ordinary (a scale-out by 4 is far outside at its
first step; afterwards the state it made can look like one where the operator runs that many
replicas). The channel's p-value is twice the smaller of the two (Bonferroni over the two),
capped at 1; the plan's score is the smallest channel's, times the number of channels set,
capped at 1. So a plan drawn from the operator's own (well-learned) policy scores below 0.05 at
most about 5 % of the time. The plain minimum over steps and channels would not be: with 16
steps and 3 controls the smallest of 48 tail probabilities is about 0.02 even for the logged
plan (measured on the plant: the logged-like "hold" plan scored a median 0.06, and 45 of 48 demo
pairs were flagged).

Labels: ``supported`` from SUPPORTED_FROM (0.05) up, ``weak`` in [UNSUPPORTED_BELOW,
SUPPORTED_FROM) = [0.01, 0.05), ``unsupported`` below UNSUPPORTED_BELOW (0.01).

The guard is a rule, not a posterior: it does not say what the effect is, only how much of the
model's answer to show. For a pair of plans let m = min(support_a, support_b) and

    s = clip((m - UNSUPPORTED_BELOW) / (SUPPORTED_FROM - UNSUPPORTED_BELOW), 0, 1)

so s = 1 for a supported pair, 0 for a pair with an unsupported plan, and rises linearly across
the weak band. Then

- P(B better) shown = 0.5 + s (p - 0.5): unchanged for a supported pair, exactly 0.5 for an
  unsupported one;
- with w = (1 - s) max(|mean|, upper - lower), the effect interval shown is
  [min(lower, mean - w), max(upper, mean + w)]: unchanged for a supported pair; for an
  unsupported one (s = 0) it contains both 0 and twice the point effect, so no sign and no size
  of the effect is claimed. The point effect itself is left as the model gives it.

Example::

    >>> import numpy as np
    >>> support = np.array([[[0.3], [0.004]]])           # (B=1, H=2, Ci=1)
    >>> plan_support(support, np.array([[[True], [False]]]))   # the second step is not set
    array([0.6])
    >>> plan_support(support, np.array([[[True], [True]]]))    # 2 min(2 x 0.152, 2 x 0.004)
    array([0.016])
    >>> label(0.004), temper(0.97, 0.6, 0.004)
    ('unsupported', 0.5)
"""

from __future__ import annotations

import numpy as np

SUPPORTED_FROM = 0.05  # a plan with support >= this is supported: the answer is shown as the model gives it
UNSUPPORTED_BELOW = 0.01  # a plan with support below this is unsupported: P(better) shown is 0.5
LABELS = ("supported", "weak", "unsupported")  # best first


def plan_support(control_support: np.ndarray, control_mask: np.ndarray) -> np.ndarray:
    """Support score per series (module docstring): of ``control_support`` (B, H, Ci) over the
    steps where ``control_mask`` (B, H, Ci) says the plan sets the control, per channel twice the
    smaller of (twice the mean, the steps set times the minimum), capped at 1; the smallest
    channel's times the channels set, capped at 1 -> (B,); a series whose plan sets nothing
    scores 1.0 (nothing was asked outside the data)."""
    control_support = np.asarray(control_support, dtype=float)
    mask = np.broadcast_to(np.asarray(control_mask, dtype=bool), control_support.shape)
    steps = mask.sum(axis=1)  # (B, Ci) steps set per channel
    mean = np.where(mask, control_support, 0.0).sum(axis=1) / np.maximum(steps, 1)
    least = np.where(mask, control_support, 1.0).min(axis=1, initial=1.0)  # (B, Ci); channels not set are dropped below
    combined = 2.0 * np.minimum(2.0 * mean, steps * least)  # Bonferroni over the two valid p-values
    per_channel = np.where(steps > 0, np.minimum(1.0, combined), np.inf)  # (B, Ci)
    channels = (steps > 0).sum(axis=1)  # (B,)
    score = np.minimum(1.0, per_channel.min(axis=1, initial=np.inf) * np.maximum(channels, 1))
    return np.where(channels == 0, 1.0, score)


def label(score: float) -> str:
    """'supported' (score >= SUPPORTED_FROM), 'weak' (>= UNSUPPORTED_BELOW) or 'unsupported'."""
    if score >= SUPPORTED_FROM:
        return "supported"
    return "weak" if score >= UNSUPPORTED_BELOW else "unsupported"


def worse(*labels: str) -> str:
    """The least supported of the labels."""
    return max(labels, key=LABELS.index)


def strength(support_a: float, support_b: float) -> float:
    """How much of the model's answer to show for a pair, s in [0, 1] (see the module docstring)."""
    low = min(support_a, support_b)
    return float(np.clip((low - UNSUPPORTED_BELOW) / (SUPPORTED_FROM - UNSUPPORTED_BELOW), 0.0, 1.0))


def temper(prob_b_better: float, support_a: float, support_b: float) -> float:
    """P(B better) as shown: pulled toward 0.5 by the pair's strength s, 0.5 + s (p - 0.5)."""
    return 0.5 + strength(support_a, support_b) * (prob_b_better - 0.5)


def widen(mean: float, lower: float, upper: float, support_a: float, support_b: float) -> tuple[float, float]:
    """The effect interval as shown: widened to [mean - w, mean + w] at least, with
    w = (1 - s) max(|mean|, upper - lower); unchanged for a supported pair."""
    w = (1.0 - strength(support_a, support_b)) * max(abs(mean), upper - lower)
    return min(lower, mean - w), max(upper, mean + w)
