"""Overlap: a plan's support score, its label, and the guard on the answer shown."""

from __future__ import annotations

import numpy as np
import pytest

from tsloop.query.overlap import SUPPORTED_FROM, UNSUPPORTED_BELOW, label, plan_support, temper, widen, worse


def test_when_a_step_is_not_set_by_the_plan_then_its_support_does_not_count():
    support = np.array([[[0.2, 0.001], [0.3, 0.002]],  # series 0: channel 1 is not set at all
                        [[0.2, 0.001], [0.3, 0.002]]])  # series 1: the same values, every control set
    mask = np.array([[[True, False], [True, False]],
                     [[True, True], [True, True]]])
    # per channel 2 min(twice the mean, steps x minimum); the smallest channel's times the channels set
    assert plan_support(support, mask) == pytest.approx([2 * min(2 * 0.25, 2 * 0.2),
                                                         2 * min(2 * 0.0015, 2 * 0.001) * 2])


def test_a_plan_drawn_from_the_policy_rarely_scores_below_the_threshold():
    """Tail probabilities of a plan the operator could have chosen are uniform: the score is a valid
    p-value however the steps depend on each other (all steps equal: the stickiest control)."""
    rng = np.random.default_rng(0)
    u = rng.uniform(size=(20000, 1, 3))
    sticky = np.repeat(u, 16, axis=1)  # (N, H=16, Ci=3), every step the same
    independent = rng.uniform(size=(20000, 16, 3))
    mask = np.ones((20000, 16, 3), dtype=bool)
    for support in (sticky, independent):
        assert (plan_support(support, mask) < SUPPORTED_FROM).mean() <= SUPPORTED_FROM
    # the minimum over every step and channel would flag most such plans
    assert (independent.min(axis=(1, 2)) < SUPPORTED_FROM).mean() > 0.9


def test_a_plan_that_jumps_outside_the_policy_at_one_step_is_unsupported():
    """A scale-out far outside the operator's choices at its first step, ordinary afterwards: the mean
    of 16 tail probabilities alone (2 x 15 x 0.5 / 16 = 0.94) would call it supported."""
    support = np.full((1, 16, 1), 0.5)
    support[0, 0, 0] = 1e-5
    mask = np.ones((1, 16, 1), dtype=bool)
    assert plan_support(support, mask)[0] == pytest.approx(2 * 16 * 1e-5)
    assert label(plan_support(support, mask)[0]) == "unsupported"
    support[0, 0, 0] = 0.01  # a step the operator could have chosen now and then: 2 x 16 x 0.01 = 0.32
    assert label(plan_support(support, mask)[0]) == "supported"


def test_a_control_held_outside_the_policy_is_unsupported():
    support = np.full((1, 16, 3), 0.5)
    support[0, :, 1] = 0.0  # one control, every step, where the operator never puts it
    assert label(plan_support(support, np.ones((1, 16, 3), dtype=bool))[0]) == "unsupported"


def test_when_a_plan_sets_no_control_then_its_support_is_one():
    support = np.full((2, 3, 1), 0.001)
    mask = np.zeros((2, 3, 1), dtype=bool)
    assert plan_support(support, mask).tolist() == [1.0, 1.0]
    assert plan_support(np.zeros((2, 3, 0)), np.zeros((2, 3, 0), dtype=bool)).tolist() == [1.0, 1.0]


@pytest.mark.parametrize("score, expected", [
    (1.0, "supported"), (SUPPORTED_FROM, "supported"), (0.049, "weak"), (UNSUPPORTED_BELOW, "weak"),
    (0.0099, "unsupported"), (0.0, "unsupported"),
])
def test_when_a_score_is_labelled_then_the_thresholds_are_0_05_and_0_01(score, expected):
    assert label(score) == expected


def test_when_two_labels_are_combined_then_the_worse_one_wins():
    assert worse("supported", "weak") == "weak" and worse("unsupported", "weak") == "unsupported"
    assert worse("supported", "supported") == "supported"


def test_when_both_plans_are_supported_then_the_answer_is_unchanged():
    assert temper(0.93, 0.2, SUPPORTED_FROM) == 0.93
    assert widen(1.5, 0.7, 2.2, 0.2, SUPPORTED_FROM) == (0.7, 2.2)


@pytest.mark.parametrize("support", [0.0, 0.005])
def test_when_a_plan_is_unsupported_then_p_better_is_one_half(support):
    assert temper(0.97, 0.8, support) == 0.5
    assert temper(0.02, support, 0.8) == 0.5


@pytest.mark.parametrize("mean, lower, upper", [(1.0, 0.9, 1.1), (-3.0, -3.2, -2.5), (0.2, -0.5, 2.0)])
def test_when_a_plan_is_unsupported_then_the_interval_holds_zero_and_twice_the_effect(mean, lower, upper):
    low, high = widen(mean, lower, upper, 0.9, 0.0)
    assert low <= min(0.0, 2 * mean) and high >= max(0.0, 2 * mean)
    assert low <= lower and high >= upper


def test_when_a_plan_is_weak_then_the_answer_is_tempered_part_way():
    middle = (SUPPORTED_FROM + UNSUPPORTED_BELOW) / 2
    assert temper(0.9, 0.5, middle) == pytest.approx(0.7)
    low, high = widen(1.0, 0.9, 1.1, 0.5, middle)  # w = 0.5 * max(1.0, 0.2)
    assert (low, high) == pytest.approx((0.5, 1.5))
