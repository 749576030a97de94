"""Probes and the model's instance normalisation: latents that know a window only relative to its
own context level are read correctly once the probe gets that level (as the decoder does)."""

from __future__ import annotations

import numpy as np

from tsloop.probe.evaluate import _design, _unflatten
from tsloop.probe.latents import ProbeData
from tsloop.probe.probes import RidgeProbe
from tsloop.probe.scores import Scorer


class IdentityTask:
    def inverse_transform(self, y, index):
        return y


def windows(n: int, seed: int, with_norm: bool = True) -> ProbeData:
    """Latents linear in the target relative to the context level; each window has its own level."""
    rng = np.random.default_rng(seed)
    k, p, d = 3, 2, 6
    h = rng.normal(size=(n, k, d))
    w = np.random.default_rng(99).normal(size=(d, p))  # the same read-out for every part
    inst = (h @ w)[..., None]  # (n, k, p, 1)
    shift, scale = rng.normal(0, 6, size=(n, 1, 1)), rng.uniform(0.5, 3, size=(n, 1, 1))
    inst = inst * 1.5  # the spread is recorded but does not change this read-out
    y = inst + shift[:, None]
    zeros = np.zeros((n, k, p, 0))
    return ProbeData(h, y, y, y, np.ones_like(y), zeros, np.zeros(n, dtype=int), y, y, y, zeros,
                     shift if with_norm else None, scale if with_norm else None)


def r2(train: ProbeData, test: ProbeData) -> float:
    x, groups = _design(train)
    xv, _ = _design(test)
    probe = RidgeProbe().fit(train.features(), x, test.features(), xv, groups, ())
    pred = _unflatten(probe.predict(test.features()), groups, test, IdentityTask())
    scorer = Scorer(pred, test, (3,), thresholds=np.zeros(0))
    return scorer(np.ones(test.shape[0]))[(3, "dense_r2", -1)]


def test_when_latents_know_targets_relative_to_the_context_level_then_the_probe_reads_them():
    assert r2(windows(400, 0), windows(200, 1)) > 0.99


def test_when_the_context_level_is_withheld_then_the_same_latents_look_uninformative():
    assert r2(windows(400, 0, with_norm=False), windows(200, 1, with_norm=False)) < 0.5
