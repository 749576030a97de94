"""The operator's policy head (tsloop/model/policy.py): what it reads and what it returns."""

from __future__ import annotations

import torch

from tsloop.data.batch import ChannelDims
from tsloop.model.policy import PolicyHead, policy_inputs

from .conftest import make_batch, tiny_model

DIMS = ChannelDims(target=2, known_future=1, intervention=2, event=1, static=1)


def _inputs(model, batch, future_target):
    return policy_inputs(model, batch, future_target, batch["future_event"], batch["future_target_mask"])


def test_when_the_policy_head_reads_its_inputs_then_it_returns_increasing_control_quantiles():
    model = tiny_model(DIMS, policy_head=True)
    batch = make_batch(DIMS)
    seen, known = _inputs(model, batch, batch["future_target"])
    k = model.cfg.horizon_patches
    assert seen.shape == known.shape == (4, k, model.cfg.d_model)
    q = PolicyHead(model.cfg)(seen, known)
    assert q.shape == (4, k * model.cfg.patch_len, DIMS.intervention, len(model.cfg.quantiles))
    assert (q.diff(dim=-1) > 0).all()


def test_when_a_patch_is_decided_then_the_operator_has_seen_only_the_patches_before_it():
    model = tiny_model(DIMS)
    batch = make_batch(DIMS, missing=0.0)
    p = model.cfg.patch_len
    seen, _ = _inputs(model, batch, batch["future_target"])
    later = batch["future_target"].clone()
    later[:, -p:] += 5.0  # the last patch's outcomes: its control was set before them
    assert torch.equal(_inputs(model, batch, later)[0], seen)
    earlier = batch["future_target"].clone()
    earlier[:, :p] += 5.0  # the first patch's outcomes: seen before the second patch's controls
    moved = _inputs(model, batch, earlier)[0]
    assert torch.equal(moved[:, 0], seen[:, 0]) and not torch.allclose(moved[:, 1], seen[:, 1])


def test_when_the_controls_in_force_change_then_the_policy_inputs_do_not():
    model = tiny_model(DIMS)
    batch = make_batch(DIMS)
    seen, known = _inputs(model, batch, batch["future_target"])
    other = {**batch, "future_control": batch["future_control"] + 3.0, "past_control": batch["past_control"] - 3.0}
    assert all(torch.equal(a, b) for a, b in zip(_inputs(model, other, other["future_target"]), (seen, known)))


def test_when_the_world_model_is_trained_then_policy_inputs_carry_no_gradient():
    model = tiny_model(DIMS)
    batch = make_batch(DIMS)
    future = batch["future_target"].clone().requires_grad_()
    seen, known = _inputs(model, batch, future)
    assert not seen.requires_grad and not known.requires_grad
