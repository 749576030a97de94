"""Suite 4 (plant what-if): the GRU peer and ridge answer the same queries as tsloop, and the
trade-off pair scores its own oracle at its limits (the metrics themselves: tests/test_metrics.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pipelines.bench.gru_peer import GRUConfig, GRUWorldModel, PeerTrainConfig, train_peer
from pipelines.bench.plant_whatif import fit_ridge, pair_scores, trade_off_plans
from tsloop.data.batch import empty_batch


@pytest.fixture(scope="module")
def tiny():
    """A 2-cluster, 12-day plant scenario (context 96, horizon 16) and its task."""
    from tsloop.data.task import load_task
    from tsloop.demo.scenario import make_scenario

    torch.set_num_threads(1)
    scenario = make_scenario(2, 12, 15, 0)
    return scenario, load_task(scenario.spec, frame=scenario.frame)


def _query(scenario, t0):
    from tsloop.demo.evaluate import frames_at
    from tsloop.demo.scenario import demo_plans, plan_frame

    history, future = frames_at(scenario, t0)
    plans = {n: plan_frame(scenario, future, p) for n, p in demo_plans(scenario, t0, scenario.spec.horizon).items()}
    return history, future, plans


def test_when_gru_peer_trains_a_few_steps_then_whatif_paths_are_finite_with_the_right_shape(tiny):
    from tsloop.forecaster import Forecaster

    scenario, task = tiny
    torch.manual_seed(0)
    model = GRUWorldModel(GRUConfig.for_task(task.spec, hidden=8))
    report = train_peer(model, task, PeerTrainConfig(max_time_s=10, max_epochs=1, limit_train_batches=3,
                                                     limit_val_batches=2, batch_size=16, seed=0))
    assert report["steps"] == 3 and np.isfinite(report["best_val_loss"])
    assert torch.all(model.target_rho().abs() < 1)
    history, _, plans = _query(scenario, 900)
    answer = Forecaster(model, task.spec, task.scaler).whatif(history, plans, objective="mean:latency_p95",
                                                             num_samples=20, seed=1)
    s = task.spec
    for result in answer.forecasts.values():
        assert result.samples.shape == (20, 2, s.horizon, len(s.target))
        assert result.event_prob.shape == (2, s.horizon, len(s.event))
        assert np.isfinite(result.samples).all() and np.isfinite(result.event_prob).all()
    assert not np.allclose(answer.forecasts["hold"].samples, answer.forecasts["scale_out"].samples)


def test_when_the_plan_is_the_logged_future_then_gru_whatif_equals_its_forecast(tiny):
    from tsloop.forecaster import Forecaster

    scenario, task = tiny
    torch.manual_seed(0)
    forecaster = Forecaster(GRUWorldModel(GRUConfig.for_task(task.spec, hidden=8)), task.spec, task.scaler)
    history, future, plans = _query(scenario, 900)
    plan = future[[task.spec.timestamp, task.spec.series_id, *task.spec.intervention]]
    answer = forecaster.whatif(history, {"logged": plan, "hold": plans["hold"]}, future=future, num_samples=8, seed=3)
    direct = forecaster.forecast(history, future, num_samples=8, seed=3)
    np.testing.assert_allclose(answer.forecasts["logged"].samples, direct.samples)


def test_when_gru_overfits_one_batch_then_its_loss_falls():
    torch.manual_seed(0)
    cfg = GRUConfig(target=2, known_future=1, intervention=1, event=1, context_length=12, horizon=4, hidden=16)
    batch = empty_batch(cfg_dims(cfg), batch=8, context=12, horizon=4)
    batch["past_target"] = torch.randn(8, 12, 2)
    batch["future_target"] = batch["past_target"][:, -4:] + torch.randn(8, 4, 2) * 0.1
    batch["future_control"] = torch.randn(8, 4, 1)
    model = GRUWorldModel(cfg)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    first = float(model.loss(batch).detach())
    for _ in range(60):
        opt.zero_grad()
        loss = model.loss(batch)
        loss.backward()
        opt.step()
    assert float(loss.detach()) < 0.6 * first
    q = model(batch).quantiles
    assert torch.all(q[..., 1:] >= q[..., :-1])  # the grid stays ordered


def cfg_dims(cfg: GRUConfig):
    from tsloop.data.batch import ChannelDims

    return ChannelDims(cfg.target, cfg.past_exog, cfg.known_future, cfg.intervention, cfg.event, cfg.static)


def test_when_ridge_is_fit_then_its_plans_change_its_forecast(tiny):
    from tsloop.forecaster import Forecaster

    scenario, task = tiny
    model, info = fit_ridge(task, stride=4)
    assert info["alpha"] > 0
    history, _, plans = _query(scenario, 900)
    answer = Forecaster(model, task.spec, task.scaler).whatif(history, plans, num_samples=10, seed=0)
    hold, out = answer.forecasts["hold"], answer.forecasts["scale_out"]
    assert np.isfinite(hold.samples).all() and ((0 < hold.event_prob) & (hold.event_prob < 1)).all()
    assert not np.allclose(hold.samples, out.samples)


def test_when_the_oracle_answers_the_trade_off_pair_then_its_scores_are_its_own_limits():
    realized = {"throttle": np.array([[1.0, 5.0], [2.0, 2.0]]), "scale_out_2": np.array([[2.0, 4.0], [1.0, 3.0]])}
    oracle_effect = np.array([[-1.0, 0.5], [0.8, 0.2]])
    truth = {"realized": realized, "oracle_effect": oracle_effect, "oracle_p_better": np.array([[0.9, 0.2], [0.3, 0.6]])}
    own = pair_scores(oracle_effect.ravel(), truth["oracle_p_better"].ravel(), truth)
    assert own["ranking_accuracy"] == 1.0 and own["p_better_brier_vs_oracle"] == 0.0
    assert own["rank_acc_realized"] == 0.75  # realized winners: throttle, scale, scale, throttle; the last call is wrong
    flipped = pair_scores(-oracle_effect.ravel(), 1 - truth["oracle_p_better"].ravel(), truth)
    assert flipped["ranking_accuracy"] == 0.0 and flipped["p_better_vs_realized"]["brier"] > own["p_better_vs_realized"]["brier"]


def test_trade_off_plans_differ_in_replicas_and_rate_limit_within_bounds(tiny):
    from tsloop.sim.plant.config import CONTROL_BOUNDS

    scenario, _ = tiny
    plans = {n: p.resolve(2, 16) for n, p in trade_off_plans(scenario, 900, 16).items()}
    scale, throttle = plans["scale_out_2"], plans["throttle"]
    assert np.all(scale["replicas"] >= throttle["replicas"]) and np.all(scale["replicas"] <= CONTROL_BOUNDS["replicas"][1])
    assert np.array_equal(scale["cooling_setpoint"], throttle["cooling_setpoint"])
    lo, hi = CONTROL_BOUNDS["rate_limit"]
    assert np.all((lo <= throttle["rate_limit"]) & (throttle["rate_limit"] <= hi))
    assert np.all(throttle["rate_limit"] < scenario.logged.exog.demand[:, 899:900])
