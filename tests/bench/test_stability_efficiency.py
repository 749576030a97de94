"""The measuring helpers of the stability and efficiency suites, on tiny untrained models."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from pipelines.bench.efficiency import count_params, fit_gate, flops_per_call, predict, set_exit
from pipelines.bench.stability import climatology_mse, long_rollout, summarise
from tsloop.data.batch import ChannelDims, empty_batch
from tsloop.model import ModelConfig, stability
from tsloop.model.world_model import WorldModel

DIMS = ChannelDims(target=2, known_future=1, intervention=1, static=1)


def _model(seed=0, **overrides):
    torch.manual_seed(seed)
    cfg = ModelConfig.preset("tiny", dims=DIMS, context_length=16, horizon=8, **overrides)
    return WorldModel(cfg).eval()


def _batch(b, horizon, seed=0):
    gen = torch.Generator().manual_seed(seed)
    batch = empty_batch(DIMS, b, 16, horizon)
    return {k: torch.randn(v.shape, generator=gen) if v.is_floating_point() and "mask" not in k else v
            for k, v in batch.items()}


def test_when_the_constrained_model_imagines_1000_steps_then_its_latent_norm_stays_in_the_certified_ball():
    model = _model()
    steps = 1000
    out = long_rollout(model, _batch(3, steps * model.cfg.patch_len), steps, chunk=300)
    assert out["norm"].shape == (3, steps + 1) and out["finite"].shape == (3, steps + 1)
    assert out["mse"].shape == (3, steps)
    assert out["finite"].all() and np.isfinite(out["mse"]).all()
    radius = max(float(out["norm"][:, 0].max()), stability.state_bound(model))
    assert out["norm"].max() <= radius * (1 + 1e-4)


def test_when_the_core_is_unconstrained_and_expanding_then_the_rollout_reports_non_finite_states():
    model = _model(constrained=False)
    with torch.no_grad():
        model.core.blocks[0].a.fill_(3.0)  # A-bar = 3: the state triples every loop
    out = long_rollout(model, _batch(2, 200 * model.cfg.patch_len), 200)
    rows = summarise(out, [1, 100])
    assert not out["finite"][:, -1].any()
    assert rows[-1]["nonfinite_windows"] == 2 and rows[0]["nonfinite_windows"] == 0


def test_when_per_step_arrays_are_known_then_summary_rows_have_those_values():
    k = np.arange(1, 101, dtype=float)
    per_step = {"norm": np.tile(np.arange(101.0), (2, 1)), "mse": np.tile(k, (2, 1)),
                "clim": np.full((2, 100), 50.0), "finite": np.ones((2, 101), bool)}
    rows = summarise(per_step, [1, 10, 100, 1000])
    assert [r["k"] for r in rows] == [1, 10, 100]  # horizons past the rollout are left out
    ten = rows[1]
    assert ten["norm_median"] == 10 and ten["norm_running_max"] == 10 and ten["mse_k"] == 10
    assert ten["mse_band"] == pytest.approx(np.mean(np.arange(6, 11)))  # steps (5, 10]
    assert ten["ratio_band"] == pytest.approx(8 / 50)
    per_step["mse"][0, 3] = np.inf
    assert summarise(per_step, [10])[0]["nonfinite_mse_upto_k"] == 1


def test_when_the_truth_is_the_hourly_table_then_climatology_error_is_zero_and_else_the_offset_squared():
    table = np.random.default_rng(0).normal(size=(2, 24, 3))
    hours = np.tile(np.arange(16) % 24, (2, 1))
    truth = np.take_along_axis(table, hours[..., None].repeat(3, -1), axis=1)
    mask = np.ones_like(truth)
    assert np.allclose(climatology_mse(truth, mask, hours, table, 4), 0)
    out = climatology_mse(truth + 2.0, mask, hours, table, 4)
    assert out.shape == (2, 4) and np.allclose(out, 4.0)


def test_when_counting_a_linear_map_then_params_and_flops_are_exact():
    layer = nn.Linear(8, 16)
    assert count_params(layer) == 8 * 16 + 16
    assert flops_per_call(layer, torch.randn(5, 8)) == 2 * 5 * 8 * 16


def test_when_depth_is_fixed_then_flops_grow_linearly_in_loops():
    model, batch = _model(), _batch(4, 8)
    f1, f2, f3 = (flops_per_call(model, batch, depth=t) for t in (1, 2, 3))
    assert f3 - f2 == f2 - f1 > 0


def test_when_exit_rules_are_switched_then_loops_used_follow_the_rule():
    model, batch = _model(), _batch(6, 8)
    loader = [batch]
    set_exit(model, "none")
    q, point, loops = predict(model, loader, depth=5)
    assert q.shape == (6, 8, 2, 9) and point.shape == (6, 8, 2) and loops == 5
    set_exit(model, "delta", 1e9)  # every sequence may stop as soon as allowed
    assert predict(model, loader)[2] == model.cfg.exit_min_loops
    set_exit(model, "delta", 0.0)  # never converged: runs to the cap
    assert predict(model, loader)[2] == model.cfg.max_depth


def test_when_a_gate_is_fitted_on_a_frozen_model_then_only_the_gate_changes():
    model, batch = _model(), _batch(8, 8)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    info = fit_gate(model, [batch], steps=5)
    assert math.isfinite(info["gate_loss_last"])
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    set_exit(model, "gate_cdf", 0.5)
    loops = predict(model, [batch])[2]
    assert model.cfg.exit_min_loops <= loops <= model.cfg.max_depth
