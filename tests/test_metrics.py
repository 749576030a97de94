import numpy as np
import pytest

from tsloop import metrics


def test_when_the_ensemble_has_one_member_then_crps_is_the_absolute_error():
    truth = np.array([[1.0, 2.0], [3.0, -1.0]])
    assert np.allclose(metrics.crps_ensemble(truth, truth[None] + 0.5), 0.5)


def test_when_samples_are_a_wide_normal_then_crps_matches_the_closed_form():
    rng = np.random.default_rng(0)
    samples = rng.normal(size=(4000, 1))
    # CRPS of N(0, 1) at 0 is (sqrt(2) - 1) / sqrt(pi) ~ 0.2337
    assert metrics.crps_samples(samples, np.zeros(1)) == pytest.approx(0.2337, abs=0.01)


def test_when_targets_are_masked_then_they_leave_every_average():
    pred, truth = np.array([1.0, 5.0]), np.array([0.0, 0.0])
    mask = np.array([1, 0])
    assert metrics.mae(pred, truth, mask) == 1.0 and metrics.mse(pred, truth, mask) == 1.0
    assert metrics.crps_samples(pred[None], truth, mask) == 1.0


def test_when_quantiles_straddle_the_truth_then_quantile_crps_is_below_the_point_error():
    levels = np.linspace(0.05, 0.95, 19)
    spread = metrics.crps_quantiles(np.linspace(-1, 1, 19)[None], levels, np.zeros(1))
    point = metrics.crps_quantiles(np.full((1, 19), 1.0), levels, np.zeros(1))
    assert spread < point and point == pytest.approx(1.0)


def test_when_events_are_ranked_perfectly_then_auprc_is_one_and_recall_is_full():
    label = np.array([0, 0, 0, 1, 0, 1])
    prob = np.array([0.1, 0.2, 0.1, 0.9, 0.3, 0.8])
    assert metrics.auprc(prob, label) == pytest.approx(1.0)
    assert metrics.recall_at_false_alarm(prob, label, 0.01) == 1.0
    assert np.isnan(metrics.auprc(prob, np.zeros(6)))


def test_when_the_season_repeats_then_seasonal_naive_continues_it():
    past = np.tile(np.arange(4.0), 3)[:, None]  # (12, 1)
    assert np.array_equal(metrics.seasonal_naive(past, 6, 4)[:, 0], [0, 1, 2, 3, 0, 1])


def test_when_scored_in_chunks_then_crps_equals_one_properscoring_call(monkeypatch):
    import properscoring

    rng = np.random.default_rng(1)
    samples, truth = rng.normal(size=(20, 7, 5)), rng.normal(size=(7, 5))
    whole = properscoring.crps_ensemble(truth, np.moveaxis(samples, 0, -1))
    monkeypatch.setattr(metrics, "PAIRWISE_BUDGET", 400 * 3)  # 3 values per chunk
    assert np.allclose(metrics.crps_ensemble(truth, samples), whole)


def test_when_probabilities_match_the_observed_rates_then_reliability_is_zero():
    prob = np.repeat([0.05, 0.3, 0.8], 20)
    outcome = np.concatenate([[1] + [0] * 19, [1] * 6 + [0] * 14, [1] * 16 + [0] * 4])
    out = metrics.reliability(prob, outcome)
    assert out["reliability"] == pytest.approx(0.0, abs=1e-12)
    assert out["base_rate"] == pytest.approx(23 / 60)
    assert [b["n"] for b in out["bins"]] == [20, 20, 20]
    assert out["brier"] == pytest.approx(metrics.brier(prob, outcome))


def test_when_probabilities_are_overconfident_then_reliability_and_brier_grow():
    outcome = np.array([1, 0] * 50)
    calibrated = metrics.reliability(np.full(100, 0.5), outcome)
    overconfident = metrics.reliability(np.full(100, 0.95), outcome)
    assert calibrated["brier"] == pytest.approx(0.25)
    assert overconfident["reliability"] == pytest.approx((0.95 - 0.5) ** 2)
    assert overconfident["brier"] > calibrated["brier"]
    assert calibrated["brier_skill"] == pytest.approx(0.0)


def test_sign_agreement_counts_pairs_whose_effect_has_the_true_sign():
    truth = np.array([-1.0, -2.0, 3.0, 0.5])
    assert metrics.sign_agreement(truth * 10, truth) == 1.0
    assert metrics.sign_agreement(-truth, truth) == 0.0
    assert metrics.sign_agreement(np.array([-1.0, 1.0, 1.0, -1.0]), truth) == 0.5
