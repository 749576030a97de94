"""The controlled system: seeded, its counterfactuals exact, its confounding of the expected sign."""

from __future__ import annotations

import numpy as np
import pytest

from tsloop.data.task import load_task
from tsloop.errors import SpecError
from tsloop.sim.controlled import (
    ControlledConfig,
    constant_plan,
    controlled_frame,
    controlled_spec,
    counterfactual,
    query_frames,
    simulate,
    true_effect,
)

SMALL = dict(series=3, steps=600)


def test_when_simulated_twice_with_one_seed_then_the_runs_are_identical_and_another_seed_differs():
    cfg = ControlledConfig(beta=-0.3, **SMALL)
    first, again, other = simulate(cfg, seed=4), simulate(cfg, seed=4), simulate(cfg, seed=5)
    np.testing.assert_array_equal(first.y, again.y)
    np.testing.assert_array_equal(first.a, again.a)
    assert not np.allclose(first.y, other.y)
    assert set(np.unique(first.a)) == {0, 1}


@pytest.mark.parametrize("beta", [0.0, -0.3, 0.5])
def test_when_the_plan_is_the_logged_controls_then_the_counterfactual_is_the_log(beta):
    log = simulate(ControlledConfig(beta=beta, **SMALL), seed=1)
    for t0 in (0, 1, 250, 600 - 8):
        replay = counterfactual(log, t0, log.a[:, t0 : t0 + 8])
        np.testing.assert_allclose(replay, log.y[:, t0 : t0 + 8], rtol=0, atol=1e-12)


def test_when_beta_is_zero_then_every_plan_gives_the_factual_path():
    log = simulate(ControlledConfig(beta=0.0, **SMALL), seed=2)
    rng = np.random.default_rng(0)
    for plan in (np.zeros(8), np.ones(8), rng.integers(0, 2, size=(3, 8)), rng.normal(size=8)):
        np.testing.assert_array_equal(counterfactual(log, 300, plan), log.y[:, 300:308])
    assert np.all(true_effect(log.config, np.zeros(8), np.ones(8)) == 0)


@pytest.mark.parametrize("beta", [-0.3, 0.7])
def test_when_two_plans_are_simulated_then_their_difference_is_the_analytic_effect(beta):
    cfg = ControlledConfig(beta=beta, **SMALL)
    log = simulate(cfg, seed=3)
    rng = np.random.default_rng(1)
    plan_a, plan_b = rng.integers(0, 2, size=(3, 8)), rng.integers(0, 2, size=(3, 8))
    for t0 in (10, 400):
        simulated = (counterfactual(log, t0, plan_b) - counterfactual(log, t0, plan_a)).mean(axis=1)
        np.testing.assert_allclose(true_effect(cfg, plan_a, plan_b), simulated, rtol=1e-10, atol=1e-12)
    rho, H = cfg.rho, 8  # hold 1 against hold 0: the closed form of the module docstring
    closed = beta / (1 - rho) * (1 - rho * (1 - rho**H) / (H * (1 - rho)))
    np.testing.assert_allclose(true_effect(cfg, np.zeros(H), np.ones(H)), closed)


@pytest.mark.parametrize("beta", [0.0, -0.3])
def test_when_the_operator_reacts_then_the_logged_association_of_a_and_y_is_positive(beta):
    """The confounding: with no effect (or a lowering one), y is still higher where a = 1."""
    log = simulate(ControlledConfig(beta=beta, series=4, steps=2000), seed=0)
    a, y = log.a[:, 1:].ravel(), log.y[:, 1:].ravel()
    assert y[a == 1].mean() - y[a == 0].mean() > 0.2
    slope = np.polyfit(a, y, 1)[0]  # the naive regression of y_t on a_t
    assert slope > 0.2


def test_when_the_operator_never_explores_then_a_is_a_function_of_the_last_y():
    log = simulate(ControlledConfig(explore=0.0, **SMALL), seed=0)
    above = log.y[:, :-1] > log.level[:, None] + log.config.threshold
    np.testing.assert_array_equal(log.a[:, 1:], above.astype(int))


def test_when_the_frame_is_loaded_as_a_task_then_its_roles_and_windows_fit():
    cfg = ControlledConfig(beta=-0.3, **SMALL)
    log = simulate(cfg, seed=0)
    frame, spec = controlled_frame(log), controlled_spec(cfg, context_length=24, horizon=6)
    assert list(frame.columns) == ["timestamp", "series", "y", "phase_sin", "phase_cos", "a"]
    assert len(frame) == 3 * 600
    task = load_task(spec, frame=frame)
    assert task.series_ids == ["unit_00", "unit_01", "unit_02"]
    np.testing.assert_array_equal(task.series[1].values["target"][:, 0], log.y[1])
    history, future = query_frames(frame, spec, 500)
    assert len(history) == 3 * 24 and len(future) == 3 * 6
    np.testing.assert_array_equal(future.loc[future.series == "unit_02", "a"], log.a[2, 500:506])
    plan = constant_plan(future, 1)
    assert list(plan.columns) == ["timestamp", "series", "a"] and (plan["a"] == 1).all()


@pytest.mark.parametrize("bad", [dict(rho=1.0), dict(explore=1.5), dict(series=0), dict(period=1)])
def test_when_the_config_is_invalid_then_spec_error(bad):
    with pytest.raises(SpecError):
        ControlledConfig(**bad)


def test_when_the_plan_leaves_the_log_then_value_error():
    log = simulate(ControlledConfig(**SMALL), seed=0)
    with pytest.raises(ValueError, match="leaves the log"):
        counterfactual(log, 595, np.zeros(8))
