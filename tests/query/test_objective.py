import numpy as np
import pytest

from tsloop.errors import PlanError
from tsloop.query.objective import Objective, pairwise_effects

TARGETS, EVENTS = ["latency_p95", "power_kw"], ["slo_breach"]


def test_when_objective_is_parsed_then_aggregate_channel_and_goal_are_read():
    assert Objective.parse("mean:latency_p95", TARGETS, EVENTS) == Objective("mean", "latency_p95", "min")
    assert Objective.parse("any:slo_breach:max", TARGETS, EVENTS) == Objective("any", "slo_breach", "max")


@pytest.mark.parametrize(
    "text, needle",
    [("mean:latncy_p95", "Did you mean 'latency_p95'"), ("avg:power_kw", "unknown aggregate"),
     ("mean:power_kw:lowest", "goal must be"), ("power_kw", "AGG:CHANNEL")],
)
def test_when_objective_is_malformed_then_error_says_how_to_fix(text, needle):
    with pytest.raises(PlanError, match=needle):
        Objective.parse(text, TARGETS, EVENTS)


def test_when_objective_evaluates_paths_then_it_aggregates_over_the_horizon():
    paths = {"latency_p95": np.array([[1.0, 3.0], [2.0, 2.0]]), "slo_breach": np.array([[0, 1], [0, 0]])}
    assert np.allclose(Objective("mean", "latency_p95").evaluate(paths), [2.0, 2.0])
    assert np.allclose(Objective("any", "slo_breach").evaluate(paths), [1.0, 0.0])


def test_when_plans_are_identical_then_effect_is_zero_and_preference_is_even():
    values = np.random.default_rng(0).normal(size=500)
    (effect,) = pairwise_effects({"a": values, "b": values.copy()}, Objective("mean", "latency_p95"))
    assert effect.mean == 0 and effect.lower == 0 and effect.upper == 0
    assert effect.prob_b_better == 0.5


def test_when_b_is_lower_on_every_path_then_b_beats_a_for_a_min_goal_and_loses_for_max():
    a = np.random.default_rng(1).normal(size=200)
    (low,) = pairwise_effects({"a": a, "b": a - 1.0}, Objective("mean", "latency_p95", "min"), interval=0.8)
    (high,) = pairwise_effects({"a": a, "b": a - 1.0}, Objective("mean", "latency_p95", "max"))
    assert low.prob_b_better == 1.0 and high.prob_b_better == 0.0
    assert np.isclose(low.mean, -1.0) and np.isclose(low.lower, -1.0) and low.interval == 0.8


def test_when_no_support_is_given_then_effects_are_the_models_and_flagged_unchecked():
    rng = np.random.default_rng(2)
    a = rng.normal(size=300)
    b = a + rng.normal(0.3, 1.0, size=300)
    (effect,) = pairwise_effects({"a": a, "b": b}, Objective("mean", "latency_p95"), interval=0.8)
    diff = b - a
    assert effect.mean == float(diff.mean())
    assert (effect.lower, effect.upper) == tuple(float(q) for q in np.quantile(diff, [(1 - 0.8) / 2, (1 + 0.8) / 2]))
    assert effect.prob_b_better == float((diff < 0).mean()) == effect.prob_b_better_model
    assert effect.flag == "unchecked" and (effect.support_a, effect.support_b) == (1.0, 1.0)
    row = effect.as_row()
    assert np.isnan(row["support_a"]) and np.isnan(row["support_b"]) and row["flag"] == "unchecked"


def test_when_a_plan_is_unsupported_then_its_effect_is_tempered_and_keeps_the_models_answer():
    a = np.random.default_rng(3).normal(size=200)
    objective = Objective("mean", "latency_p95")
    (plain,) = pairwise_effects({"a": a, "b": a - 1.0}, objective)
    (shown,) = pairwise_effects({"a": a, "b": a - 1.0}, objective, support={"a": 0.4, "b": 0.002})
    assert shown.prob_b_better == 0.5 and shown.prob_b_better_model == plain.prob_b_better == 1.0
    assert shown.mean == plain.mean and shown.lower <= -2.0 and shown.upper >= 0.0
    assert (shown.support_a, shown.support_b, shown.flag) == (0.4, 0.002, "unsupported")
    (kept,) = pairwise_effects({"a": a, "b": a - 1.0}, objective, support={"a": 0.4, "b": 0.3})
    assert (kept.lower, kept.upper, kept.prob_b_better, kept.flag) == (plain.lower, plain.upper, 1.0, "supported")
