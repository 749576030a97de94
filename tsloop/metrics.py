"""Forecast and event metrics shared by validation, evaluation and benchmarks.

Arrays follow ``(..., H, C)`` for point values and ``(S, ..., H, C)`` for sample
paths. Missing targets (mask 0) are left out of every average.
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


def recall_at_false_alarm(prob: np.ndarray, label: np.ndarray, false_alarm: float = 0.01) -> float:
    """Recall of events when the threshold allows ``false_alarm`` of negatives to fire."""
    prob, label = np.asarray(prob).reshape(-1), np.asarray(label).reshape(-1).astype(bool)
    if label.sum() == 0 or (~label).sum() == 0:
        return float("nan")
    threshold = np.quantile(prob[~label], 1.0 - false_alarm)
    return float((prob[label] > threshold).mean())


def seasonal_naive(past: np.ndarray, horizon: int, season: int) -> np.ndarray:
    """Repeat the last ``season`` steps of ``past`` (..., L, C) over ``horizon`` steps."""
    if past.shape[-2] < season:
        season = past.shape[-2]
    last = past[..., -season:, :]
    reps = int(np.ceil(horizon / season))
    return np.concatenate([last] * reps, axis=-2)[..., :horizon, :]
