"""The probes themselves are sound: planted signals are recovered, shuffled labels score at chance."""

from __future__ import annotations

import numpy as np
import pytest

from tsloop.probe.probes import MLPProbe, RidgeProbe

N, K, D = 600, 3, 8


def planted(seed: int = 0):
    """Latents (N, K, D); a numeric target linear in h_k, and a rare event when one direction is high."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(3 * N, K, D))
    w = rng.normal(size=(D, 2))
    numeric = x @ w + 0.1 * rng.normal(size=(3 * N, K, 2))
    event = (x[..., :1] > 1.6).astype(float)  # ~5% of steps
    y = np.concatenate([numeric, event], axis=-1)
    return [(x[i * N:(i + 1) * N], y[i * N:(i + 1) * N]) for i in range(3)]


GROUPS = {"dense": slice(0, 2), "event": slice(2, 3)}


def r2(pred: np.ndarray, y: np.ndarray) -> float:
    return float(1 - ((pred - y) ** 2).sum() / ((y - y.mean()) ** 2).sum())


def ap(score: np.ndarray, label: np.ndarray) -> float:
    from tsloop.metrics import auprc

    return auprc(score.reshape(-1), label.reshape(-1))


@pytest.mark.parametrize("probe", [RidgeProbe(), MLPProbe(steps=200, hidden=32)], ids=["ridge", "mlp"])
def test_when_a_signal_is_planted_then_the_probe_recovers_it(probe):
    (x, y), (xv, yv), (xt, yt) = planted()
    pred = probe.fit(x, y, xv, yv, GROUPS, binary=("event",)).predict(xt)
    assert r2(pred[..., :2], yt[..., :2]) > 0.9
    assert ap(pred[..., 2], yt[..., 2]) > 0.7  # base rate ~0.05


@pytest.mark.parametrize("probe", [RidgeProbe(), MLPProbe(steps=200, hidden=32)], ids=["ridge", "mlp"])
def test_when_labels_are_shuffled_then_the_probe_scores_near_chance(probe):
    (x, y), (xv, yv), (xt, yt) = planted()
    rng = np.random.default_rng(1)
    shuffle = lambda a: a[rng.permutation(len(a))]  # noqa: E731  break the latent-label link per window
    pred = probe.fit(x, shuffle(y), xv, shuffle(yv), GROUPS, binary=("event",)).predict(xt)
    yt = shuffle(yt)
    assert r2(pred[..., :2], yt[..., :2]) < 0.05
    base = yt[..., 2].mean()
    assert ap(pred[..., 2], yt[..., 2]) < base + 0.06


def test_when_ridge_penalty_is_chosen_then_it_is_chosen_on_validation_per_step_and_group():
    (x, y), (xv, yv), _ = planted()
    probe = RidgeProbe().fit(x, y, xv, yv, GROUPS)
    assert set(probe.chosen) == {"dense", "event"}
    assert probe.chosen["dense"].shape == (K,)
    assert np.all(probe.chosen["dense"] <= 1e-1)  # a clean linear signal needs little shrinkage
