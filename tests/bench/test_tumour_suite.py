"""The tumour suite's windows, queries and scoring (pipelines/bench/tumour_*.py) on tiny inputs."""

import numpy as np
import pytest
import torch

from pipelines.bench.tumour_data import (
    CONTEXT, STEPS, CohortArrays, LogScale, queries, query_cohort, ranking_scores, reference_volumes, rmse_scores,
)
from tsloop.sim.tumour import make_benchmark
from tsloop.sim.tumour.model import DEATH_VOLUME
from tsloop.sim.tumour.reference import growth_ls, persistence, score, true_model


@pytest.fixture(scope="module")
def bench():
    return make_benchmark(2, 10, n_train=40, n_val=10, n_test=6)


def _groups(rng, groups=30, plans=10):
    return rng.uniform(0, 50, size=groups * plans)  # cm^3, gaps mostly far above the material threshold


def test_when_prediction_is_the_truth_then_ranking_is_perfect_and_regret_zero():
    truth = _groups(np.random.default_rng(0))
    out = ranking_scores(truth, truth)
    assert out["pairwise_acc"] == 1.0 and out["top1_acc"] == 1.0 and out["regret_pct"] == 0.0
    assert out["material_pairs"] > 0 and out["decisive_groups"] > 0


def test_when_prediction_is_reversed_then_accuracy_is_zero_and_regret_positive():
    truth = _groups(np.random.default_rng(1))
    out = ranking_scores(-truth, truth)
    assert out["pairwise_acc"] == 0.0 and out["top1_acc"] == 0.0
    worst_minus_best = truth.reshape(-1, 10).max(1) - truth.reshape(-1, 10).min(1)
    assert out["regret_pct"] == pytest.approx(worst_minus_best.mean() / DEATH_VOLUME * 100)


def test_when_predictions_tie_or_gaps_are_immaterial_then_they_count_half_or_not_at_all():
    truth = np.array([10.0, 20.0, 20.0005])  # pair (2, 3) differs by far less than 0.1 % of the death volume
    out = ranking_scores(np.array([5.0, 5.0, 0.0]), truth, plans=3)
    assert out["material_pairs"] == 2  # (1, 2) and (1, 3)
    assert out["pairwise_acc"] == pytest.approx((0.5 + 0.0) / 2)  # tie on (1, 2), wrong order on (1, 3)
    assert out["decisive_groups"] == 1 and out["top1_acc"] == 0.0
    assert out["regret_pct"] == pytest.approx((20.0005 - 10.0) / DEATH_VOLUME * 100)


def test_when_all_plans_are_predicted_equal_then_ranking_is_chance():
    truth = _groups(np.random.default_rng(2))
    out = ranking_scores(np.zeros_like(truth), truth)
    y = truth.reshape(-1, 10)
    assert out["pairwise_acc"] == 0.5 and out["top1_acc"] == pytest.approx(0.1)
    assert out["regret_pct"] == pytest.approx((y.mean(1) - y.min(1)).mean() / DEATH_VOLUME * 100)


@pytest.mark.parametrize("name", ["persistence", "growth_ls", "true_model"])
def test_when_references_are_scored_through_queries_then_they_equal_the_protocol_score(bench, name):
    fn = {"persistence": persistence, "growth_ls": growth_ls(bench.train), "true_model": true_model}[name]
    expected = score(bench, fn)
    for qname, q in queries(bench).items():
        got = rmse_scores(reference_volumes(fn, query_cohort(bench, qname), q), q)
        np.testing.assert_allclose(got, np.atleast_1d(expected[qname]), rtol=1e-12)


def test_when_a_window_is_cut_then_treatments_sit_next_to_the_volume_they_act_on(bench):
    scale = LogScale.fit(bench.train)
    arrays = CohortArrays.of(bench.train, scale)
    f = bench.train.factual
    patient, origin = arrays.origins()
    pick = np.flatnonzero(origin >= 3)[:20]
    b = arrays.windows(patient[pick], origin[pick])
    p, t = patient[pick], origin[pick]
    np.testing.assert_allclose(b["past_target"][:, -1, 0].numpy(), scale.to_z(f.volume[p, t]), rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(b["future_control"][:, 0, 0].numpy(), f.chemo[p, t])  # day t acts on V[t+1]
    np.testing.assert_array_equal(b["future_control"][:, 0, 1].numpy(), f.radio[p, t])
    np.testing.assert_array_equal(b["past_control"][:, -1, 0].numpy(), f.chemo[p, t - 1])
    assert b["past_target"].shape == (20, CONTEXT, 1) and b["future_control"].shape == (20, STEPS, 2)
    first = arrays.windows(np.array([0]), np.array([0]))  # day 0: one observed day, the rest padding
    assert first["past_target_mask"][0, :, 0].tolist() == [0.0] * (CONTEXT - 1) + [1.0]
    assert float(first["past_control_mask"].sum()) == 0.0


@pytest.mark.parametrize("exit_rule", ["none", "delta"])
def test_when_plans_share_an_origin_then_shared_encoding_equals_the_forward_pass(bench, exit_rule):
    from pipelines.bench.tumour_models import tsloop_volumes
    from tsloop.data.batch import ChannelDims
    from tsloop.model import ModelConfig
    from tsloop.model.world_model import WorldModel

    torch.manual_seed(0)
    scale = LogScale.fit(bench.train)
    cfg = ModelConfig.preset("tiny", dims=ChannelDims(target=1, intervention=2, static=1), context_length=CONTEXT,
                             horizon=STEPS, exit_rule=exit_rule)
    model = WorldModel(cfg).eval()
    q = queries(bench)["sliding_treatment"]
    q = type(q)(q.patient[:40], q.origin[:40], q.control[:40], q.target[:40], q.steps)
    arrays = CohortArrays.of(bench.test_multi_step, scale)
    got = tsloop_volumes(model, arrays, scale, q)
    with torch.no_grad():
        out = model(arrays.windows(q.patient, q.origin, q.control)).quantiles[..., 0, 3].numpy()  # tiny: q0.5 at 3
    np.testing.assert_allclose(got, scale.to_volume(out), rtol=1e-4)


@pytest.mark.parametrize("exit_rule", ["none", "delta"])
def test_when_a_gcomp_model_shares_encoding_then_it_equals_its_sampler_on_the_median_draws(bench, exit_rule):
    from pipelines.bench.tumour_models import tsloop_volumes
    from tsloop.data.batch import ChannelDims
    from tsloop.model import ModelConfig
    from tsloop.model.world_model import WorldModel

    torch.manual_seed(0)
    scale = LogScale.fit(bench.train)
    cfg = ModelConfig.preset("tiny", dims=ChannelDims(target=1, intervention=2, static=1), context_length=CONTEXT,
                             horizon=STEPS, exit_rule=exit_rule, rollout="gcomp", one_step_weight=1.0,
                             blind_weight=0.0, control_members=3, policy_head=True, patch_len=1)
    model = WorldModel(cfg).eval()
    q = queries(bench)["random_trajectories"]
    q = type(q)(q.patient[:40], q.origin[:40], q.control[:40], q.target[:40], q.steps)
    arrays = CohortArrays.of(bench.test_multi_step, scale)
    got = tsloop_volumes(model, arrays, scale, q)
    # the sampler with u = 0.5 everywhere (noise 0), path s on control member s mod 3: each member's median path
    batch = arrays.windows(q.patient, q.origin, q.control)
    paths = model.sample_paths(batch, 3, noise=torch.zeros(3, len(q), STEPS, 1)).target[..., 0]  # (3, R, STEPS)
    np.testing.assert_allclose(got, scale.to_volume(paths.mean(0).numpy()), rtol=1e-4)
    assert not np.allclose(paths[0].numpy(), paths[1].numpy())  # the members differ, so their mean is tested


def test_when_ridge_is_fit_then_it_predicts_finite_volumes_within_range(bench):
    from pipelines.bench.tumour_models import Ridge

    scale = LogScale.fit(bench.train)
    ridge = Ridge.fit(CohortArrays.of(bench.train, scale), CohortArrays.of(bench.val, scale))
    q = queries(bench)["one_step"]
    pred = ridge.volumes(CohortArrays.of(bench.test_one_step, scale), scale, q)
    assert pred.shape == (len(q), STEPS) and np.isfinite(pred).all()
    assert (pred >= 0).all() and (pred <= DEATH_VOLUME).all()
    assert rmse_scores(pred, q)[0] < rmse_scores(reference_volumes(persistence, bench.test_one_step, q), q)[0] * 3


def test_when_ct_rows_are_dropped_then_ranking_uses_only_complete_plan_groups():
    from pipelines.bench.tumour import evaluate
    from pipelines.bench.tumour_data import complete_plan_groups

    patient, origin = np.repeat([0, 0, 1], 10), np.repeat([0, 1, 0], 10)  # 3 patient-days of 10 plans
    keep = complete_plan_groups(np.delete(patient, 13), np.delete(origin, 13))
    assert keep.tolist() == [True] * 10 + [False] * 9 + [True] * 10
    ct = make_benchmark(4, 10, n_train=40, n_val=10, n_test=30, mode="ct")
    sliding = ct.multi_step["sliding_treatment"]
    assert not complete_plan_groups(sliding.patient, sliding.origin).all()  # this small set does drop rows
    scores, _ = evaluate(lambda n, q: reference_volumes(true_model, query_cohort(ct, n), q), ct)
    assert np.isfinite(scores["one_step"]) and all(np.isfinite(scores["sliding_treatment"]))
    assert 0.5 < scores["ranking"]["sliding_treatment"]["pairwise_acc"] <= 1.0


@pytest.mark.parametrize("budget", [{}, {"steps": 100, "time_cap_s": 60.0}])
def test_when_a_tsloop_fit_has_no_single_budget_then_it_refuses(budget, tmp_path):
    from pipelines.bench.tumour_models import fit_tsloop

    with pytest.raises(ValueError, match="exactly one of steps"):
        fit_tsloop(None, preset="small", seed=0, run_name="x", out_dir=tmp_path, **budget)


def test_when_a_variant_trains_on_steps_then_it_records_no_time_cap():
    from argparse import Namespace

    from pipelines.bench.tumour import TSLOOP_VARIANTS, _time_cap

    args = Namespace(time_cap=120.0)
    assert _time_cap("tsloop_whatif", args) is None and _time_cap("ridge", args) is None
    assert _time_cap("tsloop", args) == 120.0 and _time_cap("tsloop_budget", args) == 240.0
    assert TSLOOP_VARIANTS["tsloop_whatif_2x"]["steps_factor"] == 2
