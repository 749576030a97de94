"""Every metric of the project, used by validation, evaluation, the probes and the benchmarks:
forecasts (MAE, MSE, CRPS, coverage), events and probabilities (AUPRC, recall at a false-alarm
rate, their weighted forms for bootstraps, Brier, reliability) and decisions (does the model
pick the better plan, plan ranking and regret).

Arrays follow ``(..., H, C)`` for point values and ``(S, ..., H, C)`` for sample
paths. Missing targets (mask 0) are left out of every average.

Example::

    >>> import numpy as np
    >>> mae(np.array([1.0, 2.0]), np.array([1.0, 4.0]))
    1.0
    >>> brier(np.array([0.5, 0.5]), np.array([0, 1]))
    0.25
    >>> sign_agreement(np.array([1.0, -2.0]), np.array([3.0, 1.0]))
    0.5
"""

from __future__ import annotations

import numpy as np
import properscoring
import torch
from torchmetrics.functional.classification import binary_average_precision


def _masked_mean(values: np.ndarray, mask: np.ndarray | None) -> float:
    if mask is None:
        return float(np.mean(values))
    mask = mask.astype(bool)
    return float(values[mask].mean()) if mask.any() else float("nan")


def mae(pred: np.ndarray, truth: np.ndarray, mask: np.ndarray | None = None) -> float:
    return _masked_mean(np.abs(pred - truth), mask)


def mse(pred: np.ndarray, truth: np.ndarray, mask: np.ndarray | None = None) -> float:
    return _masked_mean((pred - truth) ** 2, mask)


PAIRWISE_BUDGET = 20_000_000  # floats per chunk of properscoring's (value, member, member) array


def crps_ensemble(truth: np.ndarray, samples: np.ndarray) -> np.ndarray:
    """CRPS of each value of ``truth`` (...) under the ensemble ``samples`` (S, ...) (properscoring).

    Without numba, properscoring builds an (n, S, S) array of member differences: 11 GB for an
    ETTh1 validation set. Values are therefore scored in chunks that keep it near 160 MB.
    """
    truth = np.asarray(truth, dtype=float)
    members = np.moveaxis(np.asarray(samples, dtype=float), 0, -1).reshape(-1, samples.shape[0])  # (n, S)
    flat = truth.reshape(-1)
    step = max(1, PAIRWISE_BUDGET // members.shape[1] ** 2)
    out = np.concatenate(
        [properscoring.crps_ensemble(flat[i : i + step], members[i : i + step]) for i in range(0, len(flat), step)]
    ) if len(flat) else np.zeros(0)
    return out.reshape(truth.shape)


def crps_samples(samples: np.ndarray, truth: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Mean CRPS of an ensemble ``samples`` (S, ...) against ``truth`` (...), missing values left out."""
    return _masked_mean(crps_ensemble(truth, samples), mask)


def crps_quantiles(
    quantiles: np.ndarray, levels: np.ndarray, truth: np.ndarray, mask: np.ndarray | None = None
) -> float:
    """CRPS approximated by twice the mean pinball loss over ``levels``; ``quantiles`` is (..., Q)."""
    diff = truth[..., None] - quantiles
    pinball = np.maximum(levels * diff, (levels - 1.0) * diff).mean(axis=-1)
    return _masked_mean(2.0 * pinball, mask)


def auprc(prob: np.ndarray, label: np.ndarray) -> float:
    """Average precision of event probabilities; NaN when no positive label exists."""
    label = np.asarray(label).reshape(-1)
    if label.sum() == 0:
        return float("nan")
    return float(
        binary_average_precision(torch.as_tensor(np.asarray(prob).reshape(-1)), torch.as_tensor(label).long())
    )


def coverage(truth: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> float:
    """Share of ``truth`` inside [lower, upper]."""
    return float(((truth >= lower) & (truth <= upper)).mean())


def recall_at_false_alarm(prob: np.ndarray, label: np.ndarray, false_alarm: float = 0.01) -> float:
    """Recall of events when the threshold allows ``false_alarm`` of negatives to fire."""
    prob, label = np.asarray(prob).reshape(-1), np.asarray(label).reshape(-1).astype(bool)
    if label.sum() == 0 or (~label).sum() == 0:
        return float("nan")
    threshold = np.quantile(prob[~label], 1.0 - false_alarm)
    return float((prob[label] > threshold).mean())


def seasonal_naive(past: np.ndarray, horizon: int, season: int) -> np.ndarray:
    """Repeat the last ``season`` steps of ``past`` (..., L, C) over ``horizon`` steps."""
    season = min(season, past.shape[-2])
    last = past[..., -season:, :]
    reps = int(np.ceil(horizon / season))
    return np.concatenate([last] * reps, axis=-2)[..., :horizon, :]


# -- weighted forms: a bootstrap is then a reweighting of windows, not a recompute ---------------


def weighted_ap(order_label: np.ndarray, order_weight: np.ndarray) -> float:
    """Average precision of elements already sorted by decreasing score, with element weights."""
    pos = order_weight * order_label
    total = pos.sum()
    if total <= 0:
        return float("nan")
    tp = np.cumsum(pos)
    seen = np.cumsum(order_weight)
    precision = np.divide(tp, seen, out=np.zeros_like(tp), where=seen > 0)
    return float((precision * pos).sum() / total)


def weighted_recall(order_label: np.ndarray, order_weight: np.ndarray, false_alarm: float) -> float:
    """Recall at the threshold letting ``false_alarm`` of the (weighted) negatives fire."""
    pos = order_weight * order_label
    neg = order_weight * (1 - order_label)
    if pos.sum() <= 0 or neg.sum() <= 0:
        return float("nan")
    fa = np.cumsum(neg) / neg.sum()
    ok = np.nonzero(fa <= false_alarm)[0]
    if len(ok) == 0:
        return 0.0
    return float(np.cumsum(pos)[ok[-1]] / pos.sum())


# -- probabilities of outcomes ---------------------------------------------------------------

PROB_EDGES = (0.0, 0.1, 0.3, 0.5, 0.7, 0.9, 1.0)  # reliability bins


def brier(prob: np.ndarray, outcome: np.ndarray) -> float:
    return float(np.mean((np.asarray(prob, float) - np.asarray(outcome, float)) ** 2))


def reliability(prob: np.ndarray, outcome: np.ndarray, edges=PROB_EDGES) -> dict:
    """Binned reliability: per bin (count, mean prob, observed rate), and the Murphy reliability
    term sum_b n_b / N (p_b - o_b)^2 (0 = calibrated), with the Brier score and base rate."""
    prob, outcome = np.asarray(prob, float).ravel(), np.asarray(outcome, float).ravel()
    which = np.clip(np.digitize(prob, edges[1:-1], right=True), 0, len(edges) - 2)
    bins, rel = [], 0.0
    for b in range(len(edges) - 1):
        sel = which == b
        if sel.any():
            p, o = float(prob[sel].mean()), float(outcome[sel].mean())
            rel += sel.mean() * (p - o) ** 2
            bins.append({"lo": edges[b], "hi": edges[b + 1], "n": int(sel.sum()), "prob": p, "rate": o})
    base = float(outcome.mean())
    score = brier(prob, outcome)
    return {"brier": score, "reliability": float(rel), "base_rate": base, "n": int(prob.size),
            "brier_skill": 1 - score / (base * (1 - base)) if 0 < base < 1 else float("nan"), "bins": bins}


# -- decisions between plans -----------------------------------------------------------------


def sign_agreement(effect: np.ndarray, truth: np.ndarray) -> float:
    """Share of pairs where the predicted effect has the sign of the true one (picks the better plan)."""
    return float(np.mean(np.sign(effect) == np.sign(truth)))


def plan_ranking(pred: np.ndarray, truth: np.ndarray, plans: int, material: float) -> dict[str, float]:
    """Ranking of plans (lower is better) within each group of ``plans`` consecutive values.

    pairwise_acc: share of plan pairs whose true gap is >= ``material`` that the prediction orders
    the same way (a predicted tie counts one half); top1_acc: share of groups whose best true plan
    beats the runner-up by >= ``material`` where the predicted best is that plan; regret: mean over
    all groups of truth(chosen) - truth(best), in the units of ``truth``. A tie for the predicted
    best is broken uniformly at random, in expectation (top1 credit 1/m, regret the mean over the m
    tied plans), so a predictor that cannot tell plans apart gets chance, not the first plan's luck.
    """
    p = np.asarray(pred, dtype=float).reshape(-1, plans)  # (G, K)
    y = np.asarray(truth, dtype=float).reshape(-1, plans)
    i, j = np.triu_indices(plans, 1)
    gap = y[:, i] - y[:, j]  # (G, pairs)
    material_pair = np.abs(gap) >= material
    agree = np.where(np.sign(p[:, i] - p[:, j]) == 0, 0.5, (np.sign(p[:, i] - p[:, j]) == np.sign(gap)).astype(float))
    ordered = np.sort(y, axis=1)
    decisive = (ordered[:, 1] - ordered[:, 0]) >= material if plans > 1 else np.ones(len(y), bool)
    tied = p == p.min(axis=1, keepdims=True)  # (G, K) plans sharing the predicted minimum
    m = tied.sum(axis=1)
    best = np.argmin(y, axis=1)
    hit = tied[np.arange(len(y)), best] / m
    regret = (y * tied).sum(axis=1) / m - y.min(axis=1)
    n_pairs = int(material_pair.sum())
    return {
        "pairwise_acc": float(agree[material_pair].mean()) if n_pairs else float("nan"),
        "material_pairs": n_pairs,
        "material_pair_share": float(material_pair.mean()),
        "top1_acc": float(hit[decisive].mean()) if decisive.any() else float("nan"),
        "decisive_groups": int(decisive.sum()),
        "regret": float(regret.mean()),
        "groups": len(y),
    }
