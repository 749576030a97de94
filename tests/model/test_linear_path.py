"""The direct linear path (tsloop/model/linear_path.py): zero at start, masked steps unread, one
context map shared by target channels, covariate maps only where they fit, their units, the
per-step known MLP, the monomial terms of the known row, and configs saved before the
context-covariate map or the monomials."""

from __future__ import annotations

import pytest
import torch

from tsloop.data.batch import ChannelDims
from tsloop.errors import SpecError
from tsloop.model import ModelConfig
from tsloop.model.config import LINEAR_CONTEXT_MAX, LINEAR_FULL_MAX
from tsloop.model.linear_path import LinearPath

from .conftest import CONTEXT, HORIZON, make_batch, tiny_model

DIMS = ChannelDims(target=2, known_future=1)
COV_DIMS = ChannelDims(target=2, past_exog=1, known_future=2)


def _path(dims: ChannelDims = DIMS, trained: bool = False, **overrides) -> LinearPath:
    cfg = ModelConfig.preset("tiny", dims=dims, context_length=CONTEXT, horizon=HORIZON, **overrides)
    path = LinearPath(cfg)
    if trained:  # as if fitted: every map nonzero
        gen = torch.Generator().manual_seed(1)
        with torch.no_grad():
            for p in path.parameters():
                p.copy_(torch.randn(p.shape, generator=gen))
    return path


def test_when_untrained_then_the_linear_forecast_is_exactly_zero():
    out = _path()(make_batch(DIMS))
    assert out.shape == (4, HORIZON, DIMS.target)
    assert torch.equal(out, torch.zeros_like(out))


def test_when_a_missing_context_value_changes_then_the_forecast_does_not():
    path = _path(trained=True)
    batch = make_batch(DIMS, missing=0.3)
    other = {**batch, "past_target": batch["past_target"] + 100.0 * (1 - batch["past_target_mask"])}
    assert torch.allclose(path(batch), path(other))
    seen = {**batch, "past_target": batch["past_target"] + 1.0 * batch["past_target_mask"]}
    assert not torch.allclose(path(batch), path(seen))


def test_when_two_target_channels_share_a_context_then_their_context_forecasts_are_equal():
    path = _path(dims=ChannelDims(target=2), trained=True)
    batch = make_batch(ChannelDims(target=2), missing=0.0)
    batch["past_target"][..., 1] = batch["past_target"][..., 0]
    out = path(batch)
    assert torch.allclose(out[..., 0], out[..., 1])


def test_when_the_known_future_is_shorter_than_the_horizon_then_it_is_not_read():
    path = _path(trained=True)
    batch = make_batch(DIMS)
    short = {**batch, "future_known": batch["future_known"][:, : HORIZON - 1]}
    unknown = {**batch, "future_known": torch.zeros_like(batch["future_known"])}
    assert torch.allclose(path(short), path({k: v for k, v in batch.items() if k != "future_known"}))
    assert not torch.allclose(path(batch), path(unknown))  # read when it covers the horizon


def test_when_the_full_known_map_is_off_or_too_large_then_only_the_per_step_map_exists():
    assert _path().known_full is not None
    assert _path(linear_known_full=False).known_full is None
    wide = ChannelDims(target=LINEAR_FULL_MAX // (HORIZON * HORIZON) + 1, known_future=1)
    assert _path(dims=wide).known_full is None and _path(dims=wide).known is not None
    assert _path(dims=ChannelDims(target=1)).known is None


def path(**overrides) -> LinearPath:
    torch.manual_seed(0)
    cfg = ModelConfig.preset("tiny", dims=COV_DIMS, context_length=CONTEXT, horizon=HORIZON, **overrides)
    return LinearPath(cfg)


def randomised(lp: LinearPath) -> LinearPath:
    with torch.no_grad():
        for p in lp.parameters():
            p.normal_(0.0, 0.3)
    return lp


def test_the_context_covariates_move_the_forecast_only_when_read():
    batch = make_batch(COV_DIMS)
    known = dict(batch, past_known=batch["past_known"] + 1.0)
    exog = dict(batch, past_exog=batch["past_exog"] - 1.0)
    default = randomised(path())  # linear_context_covariates="known"
    every = randomised(path(linear_context_covariates="all"))
    neither = randomised(path(linear_context_covariates="none"))
    assert neither.past_full is None and default.past_full.shape[0] == CONTEXT * 2 and every.past_full.shape[0] == CONTEXT * 3
    assert not torch.allclose(default(batch), default(known)) and torch.allclose(default(batch), default(exog))
    assert not torch.allclose(every(batch), every(known)) and not torch.allclose(every(batch), every(exog))
    assert torch.allclose(neither(batch), neither(known)) and torch.allclose(neither(batch), neither(exog))


def test_the_context_covariate_map_is_left_out_when_it_would_be_too_large():
    context = LINEAR_CONTEXT_MAX // (2 * HORIZON * 2) + 1  # Ck * L * H * Ct > LINEAR_CONTEXT_MAX
    cfg = ModelConfig.preset("tiny", dims=COV_DIMS, context_length=context, horizon=HORIZON)
    assert LinearPath(cfg).past_full is None


def test_task_units_divide_the_covariate_terms_by_the_context_spread():
    batch = make_batch(COV_DIMS)
    scale = torch.full((4, 1, 2), 4.0)
    instance = randomised(path(linear_known_hidden=8))
    task = path(linear_known_hidden=8, linear_covariate_units="task")
    task.load_state_dict(instance.state_dict())
    context_term = instance.context(batch["past_target"].mul(batch["past_target_mask"]).transpose(1, 2)).transpose(1, 2)
    covariates = instance(batch) - context_term
    assert torch.allclose(task(dict(batch, target_scale=scale)), context_term + covariates / 4.0, atol=1e-5)


def test_the_per_step_known_mlp_responds_nonlinearly_to_the_known_row():
    lp = randomised(path(linear_known_hidden=8, linear_known_full=False, linear_context_covariates="none"))
    batch = make_batch(COV_DIMS)
    base = lp(dict(batch, future_known=torch.zeros_like(batch["future_known"])))
    one = lp(dict(batch, future_known=torch.ones_like(batch["future_known"])))
    two = lp(dict(batch, future_known=2 * torch.ones_like(batch["future_known"])))
    assert not torch.allclose(two - base, 2 * (one - base), atol=1e-4)  # a linear map would double


def test_the_monomial_term_is_every_product_of_degree_two_to_three_of_a_step_s_known_row_in_task_units():
    lp = path(linear_known_poly=3, linear_known_full=False, linear_context_covariates="none")
    assert lp.known_poly.shape == (HORIZON, 7, 2)  # x0^2, x0 x1, x1^2, x0^3, x0^2 x1, x0 x1^2, x1^3
    with torch.no_grad():
        lp.known_poly.normal_(0.0, 0.3)
    batch = make_batch(COV_DIMS)
    scale = torch.rand(4, 1, 2) + 0.5
    x0, x1 = batch["future_known"][..., 0], batch["future_known"][..., 1]
    terms = torch.stack([x0 * x0, x0 * x1, x1 * x1, x0 ** 3, x0 * x0 * x1, x0 * x1 * x1, x1 ** 3], dim=-1)
    expected = torch.einsum("bhm,hmc->bhc", terms, lp.known_poly) / scale
    without = {k: v for k, v in batch.items() if k != "future_known"}
    assert torch.allclose(lp(dict(batch, target_scale=scale)) - lp(without), expected, atol=1e-5)
    assert path(linear_known_poly=2).known_poly.shape == (HORIZON, 3, 2)
    assert path(linear_known_poly=0).known_poly is None and _path(dims=ChannelDims(target=1)).known_poly is None


def test_gradients_reach_every_direct_map_through_the_model_loss():
    dims = ChannelDims(target=2, past_exog=1, known_future=1, event=1)
    model = tiny_model(dims, linear_known_hidden=8, linear_known_poly=3)
    loss, _ = model.loss(make_batch(dims))
    loss.backward()
    lp = model.linear_path
    for name in ("past_full", "known", "known_full"):
        assert getattr(lp, name).grad.abs().sum() > 0, name
    assert lp.known_mlp[-1].weight.grad.abs().sum() > 0
    assert lp.known_poly.grad.abs().sum() > 0


def test_a_config_saved_before_the_covariate_map_loads_without_it_and_the_first_switch_is_read():
    cfg = ModelConfig.preset("tiny", dims=COV_DIMS, context_length=CONTEXT, horizon=HORIZON)
    old = cfg.to_dict()
    del old["linear_context_covariates"]
    assert ModelConfig.from_dict(old).linear_context_covariates == "none"
    assert ModelConfig.from_dict({**old, "linear_past_covariates": True}).linear_context_covariates == "all"
    assert ModelConfig.from_dict({**old, "linear_past_covariates": False}).linear_context_covariates == "none"
    assert ModelConfig.from_dict(cfg.to_dict()).linear_context_covariates == "known"
    del old["linear_known_poly"]
    assert ModelConfig.from_dict(old).linear_known_poly == 0  # saved before the monomials: built without them


@pytest.mark.parametrize("bad", [dict(linear_known_hidden=-1), dict(linear_covariate_units="raw"),
                                 dict(linear_context_covariates=True), dict(linear_known_poly=1),
                                 dict(linear_known_poly=-2)])
def test_bad_settings_are_refused_with_the_allowed_values(bad):
    with pytest.raises(SpecError, match="linear_"):
        ModelConfig.preset("tiny", dims=COV_DIMS, context_length=CONTEXT, horizon=HORIZON, **bad)
