"""Scores: weighted AUPRC matches tsloop.metrics, perfect predictions score perfectly, bootstrap is sound."""

from __future__ import annotations

import numpy as np

from tsloop.metrics import auprc, recall_at_false_alarm, weighted_ap, weighted_recall
from tsloop.probe.latents import ProbeData, moving_detail
from tsloop.probe.scores import Prediction, Scorer, bootstrap, choose_threshold


def toy_truth(n: int = 40, k: int = 4, p: int = 2, seed: int = 0) -> ProbeData:
    rng = np.random.default_rng(seed)
    y = rng.normal(size=(n, k, p, 2))
    event = np.zeros((n, k, p, 1))
    first = rng.integers(0, (k - 1) * p, size=n)
    for i in range(0, n, 2):  # half the windows hold one event, at a random step
        event.reshape(n, k * p, 1)[i, first[i]] = 1
    detail = moving_detail(y.reshape(n, k * p, 2), 3).reshape(y.shape)
    return ProbeData(rng.normal(size=(n, k, 3)), y, y * 10, detail, np.ones_like(y), event,
                     np.zeros(n, dtype=int), y * 10, y, detail, event)


def test_when_weights_are_one_then_weighted_ap_and_recall_match_the_metrics_module():
    rng = np.random.default_rng(0)
    score, label = rng.random(500), (rng.random(500) < 0.1).astype(float)
    order = np.argsort(-score)
    assert abs(weighted_ap(label[order], np.ones(500)) - auprc(score, label)) < 1e-6
    assert abs(weighted_recall(label[order], np.ones(500), 0.05) - recall_at_false_alarm(score, label, 0.05)) < 0.03


def test_when_predictions_are_perfect_then_every_score_is_perfect():
    truth = toy_truth()
    pred = Prediction(truth.target, truth.target_raw, truth.detail, truth.event)
    scores = Scorer(pred, truth, (2, 4), thresholds=np.array([0.5]))(np.ones(40))
    for k in (2, 4):
        assert scores[(k, "dense_r2", -1)] == 1.0 and scores[(k, "dense_r2_raw", -1)] == 1.0 and scores[(k, "detail_r2", -1)] == 1.0
        assert scores[(k, "step_auprc", 0)] == 1.0 and scores[(k, "win_auprc", 0)] == 1.0
        assert scores[(k, "timing_mae", 0)] == 0.0 and scores[(k, "timing_within1", 0)] == 1.0
    assert scores[(4, "timing_n", 0)] == 20  # every event lies in the intermediate steps of K = 4


def test_when_the_prediction_is_noise_then_the_interval_covers_chance():
    truth = toy_truth(n=200)
    rng = np.random.default_rng(3)
    noise = lambda: rng.normal(size=truth.target.shape)  # noqa: E731
    pred = Prediction(noise(), noise(), noise(), rng.random(truth.event.shape))
    out = bootstrap([Scorer(pred, truth, (4,), np.array([0.5])) for _ in range(3)], reps=50)
    mean, lo, hi = out[(4, "win_auprc", 0)]
    base = out[(4, "win_base", 0)][0]
    assert lo <= base + 0.05 and lo <= mean <= hi
    assert out[(4, "dense_r2", -1)][2] < 0.05


def test_when_events_start_at_a_fixed_step_then_the_chosen_threshold_times_them():
    score = np.zeros((30, 10))
    label = np.zeros((30, 10))
    label[:, 6:] = 1
    score[:, 6:] = 0.9
    score[:, :6] = 0.2
    assert 0.2 < choose_threshold(score, label) <= 0.9
