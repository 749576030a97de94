"""Continuous ranked probability score of an ensemble (Monte Carlo paths) against observations."""

from __future__ import annotations

import numpy as np

try:  # a project dependency; the fallback below gives the same numbers
    from properscoring import crps_ensemble as _properscoring_crps
except ImportError:  # pragma: no cover - exercised only without properscoring
    _properscoring_crps = None


def crps_ensemble(observations: np.ndarray, samples: np.ndarray) -> np.ndarray:
    """CRPS of each observation, shape (...), under the empirical law of samples (N, ...)."""
    obs = np.asarray(observations, dtype=float)
    ens = np.moveaxis(np.asarray(samples, dtype=float), 0, -1)  # (..., N)
    if _properscoring_crps is not None:
        return _properscoring_crps(obs, ens)
    return sample_crps(obs, ens)


def sample_crps(obs: np.ndarray, ens: np.ndarray) -> np.ndarray:
    """E|X - y| - E|X - X'| / 2 with the ensemble on the last axis, in O(N log N) via sorting."""
    n = ens.shape[-1]
    x = np.sort(ens, axis=-1)
    first = np.abs(x - obs[..., None]).mean(axis=-1)
    weights = 2.0 * np.arange(1, n + 1) - n - 1  # sum_{i<j} (x_j - x_i) = sum_i (2i - n - 1) x_i
    second = (x * weights).sum(axis=-1) / n**2
    return first - second
