"""The direct linear path (tsloop/model/linear_path.py): zero at start, masked steps unread,
one context map shared by target channels, known-future maps only where they fit."""

from __future__ import annotations

import torch

from tsloop.data.batch import ChannelDims
from tsloop.model import ModelConfig
from tsloop.model.config import LINEAR_FULL_MAX
from tsloop.model.linear_path import LinearPath

from .conftest import CONTEXT, HORIZON, make_batch

DIMS = ChannelDims(target=2, known_future=1)


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
