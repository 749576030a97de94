"""Suite 4 (plant what-if): the GRU peer and ridge answer the same queries as tsloop; the pairs'
truth is the simulator's exact counterfactual; the pair scores (coverage, flags) and the report's
bars on hand-made answers; the confounding option reaches the simulator (the metrics themselves:
tests/test_metrics.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pipelines.bench.gru_peer import GRUConfig, GRUWorldModel, PeerTrainConfig, train_peer
from pipelines.bench.plant_whatif import oracle_answers, pair_metrics
from pipelines.bench.plant_whatif_models import fit_ridge
from pipelines.bench.plant_whatif_pairs import PairTruth, cooling_plans, pair_truth, trade_off_plans
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
    report = train_peer(model, task, PeerTrainConfig(max_steps=3, limit_val_batches=2, batch_size=16, seed=0))
    assert report["steps"] == 3 and report["stopped"] == "steps" and np.isfinite(report["best_val_loss"])
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


def _pair_truth(effect, p_better, realized_b, base=10.0) -> PairTruth:
    """A hand-made pair of (O, S) = (2, 2): plan b − plan a, realized a = 0."""
    effect = np.asarray(effect, float)
    zeros = np.zeros_like(effect)
    return PairTruth(plans=["a", "b"], oracle_effect=effect, oracle_lower=effect - 1, oracle_upper=effect + 1,
                     oracle_p_better=np.asarray(p_better, float), oracle_base=np.full_like(effect, base),
                     oracle_crps={"a": np.ones_like(effect), "b": np.ones_like(effect)}, oracle_events={},
                     realized={"a": zeros, "b": np.asarray(realized_b, float)}, realized_paths={}, realized_events={})


def test_when_the_oracle_answers_its_own_pair_then_its_scores_are_its_own_limits():
    t = _pair_truth([[-1.0, 0.2], [0.8, 0.05]], [[0.9, 0.2], [0.3, 0.6]], [[1.0, 2.0], [1.0, -3.0]])
    own = pair_metrics(oracle_answers(t), t)
    assert own["ranking"] == 1.0 and own["p_better_brier"] == 0.0 and own["cf_crps_ratio"] == 1.0
    assert own["material_pairs"] == 2 and own["ranking_material"] == 1.0  # |effect| > 5 % of 10: -1.0 and 0.8
    assert own["rank_realized"] == 0.5  # realized effects +, +, +, −: the oracle's signs −, +, +, + agree twice
    flipped = pair_metrics({**oracle_answers(t), "effect": -t.oracle_effect, "p_better": 1 - t.oracle_p_better}, t)
    assert flipped["ranking"] == 0.0 and flipped["p_better_vs_realized"]["brier"] > own["p_better_vs_realized"]["brier"]


def test_when_intervals_are_hand_made_then_coverage_is_the_share_that_holds_the_oracle_effect():
    t = _pair_truth([[-1.0, 0.5], [2.0, 0.0]], [[1.0, 0.0], [0.0, 0.5]], [[0.0, 0.0], [0.0, 0.0]])
    ans = {"effect": [[-0.9, 0.4], [1.0, 0.0]], "p_better": [[1.0, 0.0], [0.0, 0.5]],
           "lower": [[-1.5, 0.6], [0.5, 0.0]],  # holds -1.0, misses 0.5 (below the interval), misses 2.0 (above),
           "upper": [[-0.5, 0.9], [1.5, 0.0]]}  # and [0, 0] holds an exact 0 (identical plans)
    assert pair_metrics(ans, t)["coverage90"] == 0.5
    assert "flags" not in pair_metrics(ans, t)  # no Effect.flag reported: no flag scores


def test_when_flags_are_reported_then_shares_and_supported_only_scores_are_kept():
    t = _pair_truth([[-1.0, 1.0], [2.0, -3.0]], [[1.0, 0.0], [0.0, 1.0]], [[-1.0, 1.0], [2.0, -3.0]])
    ans = {**oracle_answers(t), "effect": [[-1.0, -1.0], [2.0, 3.0]], "flags_reported": True,
           "flag": [["supported", "unsupported"], ["supported", "weak"]]}
    scores = pair_metrics(ans, t)
    assert scores["ranking"] == 0.5 and scores["supported"]["ranking"] == 1.0 and scores["supported"]["pairs"] == 2
    assert scores["flags"] == {"share_supported": 0.5, "share_weak": 0.25, "share_unsupported": 0.25}


def test_when_the_cooling_pair_plan_is_the_logged_one_then_its_truth_reproduces_the_log(tiny):
    from tsloop.demo.scenario import logged_plan
    from tsloop.sim.plant.oracle import states_at

    scenario, _ = tiny
    H, origins = scenario.spec.horizon, [900, 1000]

    def plans(s, t0, h):
        return {"logged": logged_plan(s, t0, h), "cool_3": cooling_plans(s, t0, h)["cool_3"]}

    t = pair_truth(scenario, origins, states_at(scenario.sim, scenario.noise, origins), plans, "inlet_temp", paths=8)
    logged = scenario.logged.targets["inlet_temp"]
    for i, t0 in enumerate(origins):
        np.testing.assert_array_equal(t.realized_paths["logged"][i], logged[:, t0 : t0 + H])
        np.testing.assert_allclose(t.realized["logged"][i], logged[:, t0 : t0 + H].mean(-1))
    assert t.oracle_effect.shape == (2, 2) and np.all((0 <= t.oracle_p_better) & (t.oracle_p_better <= 1))


def test_cooling_plans_lower_only_the_setpoint_by_three_degrees_within_bounds(tiny):
    from tsloop.sim.plant.config import CONTROL_BOUNDS

    scenario, _ = tiny
    plans = {n: p.resolve(2, 16) for n, p in cooling_plans(scenario, 900, 16).items()}
    hold, cool = plans["hold"], plans["cool_3"]
    logged = scenario.logged.controls
    np.testing.assert_array_equal(hold["cooling_setpoint"], np.repeat(logged["cooling_setpoint"][:, 899:900], 16, 1))
    np.testing.assert_array_equal(cool["cooling_setpoint"],
                                  np.maximum(hold["cooling_setpoint"] - 3, CONTROL_BOUNDS["cooling_setpoint"][0]))
    for name in ("replicas", "rate_limit"):
        np.testing.assert_array_equal(hold[name], logged[name][:, 900:916])
        np.testing.assert_array_equal(cool[name], hold[name])


def test_when_confounding_is_given_on_the_command_line_then_the_simulator_gets_it(monkeypatch, tmp_path):
    from pipelines.bench import plant_whatif
    from tsloop.demo.scenario import make_scenario

    seen = []

    def spy(series, days, step_minutes, seed, confounding=1.0):
        seen.append(make_scenario(2, 3, 15, seed, confounding=confounding).sim.config.confounding)
        raise RuntimeError("stop after the scenario")

    monkeypatch.setattr(plant_whatif, "make_scenario", spy)
    args = plant_whatif.parse(["--confounding", "0.5", "--seeds", "3", "--models", "ridge", "--out", str(tmp_path)])
    assert args.levels == [0.5] and args.seeds == [3]
    with pytest.raises(RuntimeError, match="stop after"):
        plant_whatif.run_scenario(args.levels[0], args.seeds[0], args.models, args)
    assert seen == [0.5]
    assert plant_whatif.parse([]).levels == [0.0, 0.5, 1.0]
    assert make_scenario(2, 3, 15, 0).sim.config.confounding == 1.0  # the demo's default is unchanged


def test_when_a_record_is_summarized_then_the_report_marks_exactly_the_cells_that_meet_the_bars():
    from pipelines.bench.plant_whatif_report import markdown, meets, summarize

    def record(model, seed, ranking, crps, brier, coverage):
        pair = {"pairs": 8, "material_pairs": 6, "ranking_material": ranking, "cf_crps_ratio": crps,
                "p_better_brier": brier, "coverage90": coverage}
        return {"model": model, "confounding": 0.5, "seed": seed, "budget": {"steps": 10, "train_s": 2.0},
                "scores": {"pairs": {"cooling": pair}}}

    records = [record("good", 0, 0.95, 1.10, 0.05, 0.90), record("good", 1, 0.93, 1.12, 0.07, 0.88),
               record("bad", 0, 0.80, 1.30, 0.20, 0.99), record("bad", 1, 0.99, 1.20, 0.10, 0.50)]
    summary = summarize(records)
    cooling = summary["pairs"]["cooling"]
    assert all(cooling[k]["good"]["0.5"]["meets"] for k in ("ranking_material", "cf_crps_ratio", "p_better_brier", "coverage90"))
    assert not any(cooling[k]["bad"]["0.5"]["meets"]  # means 0.895, 1.25, 0.15, 0.745
                   for k in ("ranking_material", "cf_crps_ratio", "p_better_brier", "coverage90"))
    text = markdown(summary)
    assert "| good | 0.940 ± 0.014 ✓ |" in text and "| bad | 0.895 ± 0.134 |" in text
    assert meets("coverage90", 0.95) and not meets("coverage90", 0.951) and meets("ranking_material", 0.90)
    assert meets("supported/cf_crps_ratio", 1.15) and meets("effect_mae", 0.0) is None


def test_when_results_are_published_then_only_the_results_section_changes(tmp_path):
    from pipelines.bench.plant_whatif_report import BEGIN, END, RESULTS_MD, publish

    page = tmp_path / "RESULTS.md"
    page.write_text(RESULTS_MD.read_text())
    publish("| model | c = 0 |\n", page)
    head, rest = page.read_text().split(BEGIN)
    assert head == RESULTS_MD.read_text().split(BEGIN)[0] and "| model | c = 0 |" in rest.split(END)[0]


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


def test_when_a_model_saved_before_calibration_is_rescored_then_its_policy_head_is_calibrated(tiny, tmp_path):
    """``--rescore`` reads support as a model trained today would: a saved what-if model whose file has no
    policy calibration is calibrated on the task's validation part; without a task it is left as saved."""
    import json

    from pipelines.bench.plant_whatif_models import saved_model
    from tsloop.bundle import Bundle
    from tsloop.model.config import ModelConfig
    from tsloop.model.world_model import WorldModel

    scenario, task = tiny
    torch.manual_seed(0)
    cfg = ModelConfig.for_task("tiny", task.spec)
    model = WorldModel(cfg)
    assert model.policy is not None
    folder = tmp_path / "tsloop_c0_s0"
    folder.mkdir()
    Bundle(model_config=cfg.to_dict(), spec=task.spec.to_dict(), scaler=task.scaler.to_dict(),
           state_dict=model.state_dict(), meta={"train_config": {"val_stride": 8}}).save(folder / "model.pt")
    record = tmp_path / "tsloop_c0_s0.json"
    record.write_text(json.dumps({"budget": {"steps": 0}}))
    as_saved = saved_model("tsloop", folder, record)[0]
    assert not as_saved.model.policy.is_calibrated
    forecaster, budget, _ = saved_model("tsloop", folder, record, task)
    assert forecaster.model.policy.is_calibrated and budget == {"steps": 0}
    assert int(forecaster.model.policy.cal_count.sum()) > 0
