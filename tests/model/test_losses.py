"""Loss terms of the world model (tsloop/model/losses.py), each against a value worked by hand."""

from __future__ import annotations

import math

import pytest
import torch

from tsloop.model.losses import (
    consistency, copula_nll, event_bce, jacobian_penalty, path_hinge, pinball, reverse_gradient,
)


def test_when_a_forecast_misses_then_pinball_weighs_each_level_by_its_side_and_skips_missing_entries():
    levels = torch.tensor([0.1, 0.9])
    quantiles = torch.zeros(1, 2, 1, 2)  # (B, H, C, Q)
    target = torch.tensor([[[1.0], [100.0]]])  # the second step is missing
    mask = torch.tensor([[[1.0], [0.0]]])
    assert pinball(quantiles, target, mask, levels).item() == pytest.approx((0.1 + 0.9) / 2)
    assert pinball(quantiles, -target, mask, levels).item() == pytest.approx((0.9 + 0.1) / 2)  # below: mirrored
    assert pinball(quantiles, target, torch.zeros_like(mask), levels).item() == 0.0


def test_when_positives_are_weighted_then_their_bce_scales_and_no_channels_cost_nothing():
    logits, ones = torch.zeros(2, 3, 1), torch.ones(2, 3, 1)
    assert event_bce(logits, ones, 2.0).item() == pytest.approx(2 * math.log(2))
    assert event_bce(logits, torch.zeros_like(ones), 2.0).item() == pytest.approx(math.log(2))
    empty = torch.zeros(2, 3, 0, requires_grad=True)
    assert event_bce(empty, torch.zeros(2, 3, 0), 2.0).item() == 0.0


def test_when_consistency_is_backpropagated_then_only_the_prediction_moves():
    predicted, target = torch.ones(2, 3, 4, requires_grad=True), torch.zeros(2, 3, 4, requires_grad=True)
    loss = consistency(predicted, target)
    loss.backward()
    assert loss.item() == 1.0 and predicted.grad is not None and target.grad is None


@pytest.mark.parametrize("c_max, expected", [(1.0, 0.0), (2.0, 0.0), (0.5, 1.5)])
def test_when_the_latent_path_is_longer_than_k_times_c_max_then_the_hinge_charges_the_excess(c_max, expected):
    steps = torch.zeros(2, 4, 3)
    steps[:, 1:, 0] = torch.arange(1.0, 4.0)  # three unit steps along one axis: length 3
    assert path_hinge(steps, c_max).item() == pytest.approx(expected)


def test_when_the_step_is_a_scaled_identity_then_the_jacobian_penalty_is_its_frobenius_norm():
    h_prev = torch.randn(5, 4, requires_grad=True)
    assert jacobian_penalty(2.0 * h_prev, h_prev).item() == pytest.approx(4 * 2.0 ** 2)  # ||2 I_4||_F^2


def _ar1(rho: float, batch: int = 4000, steps: int = 12) -> torch.Tensor:
    gen = torch.Generator().manual_seed(0)
    x = torch.empty(batch, steps, 1)
    x[:, 0] = torch.randn(batch, 1, generator=gen)
    for t in range(1, steps):
        x[:, t] = rho * x[:, t - 1] + math.sqrt(1 - rho ** 2) * torch.randn(batch, 1, generator=gen)
    return x


def test_when_targets_follow_an_ar1_copula_then_the_nll_is_lowest_near_its_rho_and_trains_only_rho():
    levels = torch.linspace(0.01, 0.99, 99)
    target = _ar1(0.6)
    quantiles = torch.special.ndtri(levels).expand(*target.shape, -1).clone().requires_grad_()
    mask = torch.ones_like(target)
    nll = {r: copula_nll(quantiles, target, mask, levels, torch.tensor([r])).item() for r in (0.0, 0.3, 0.6, 0.9)}
    assert min(nll, key=nll.get) == 0.6
    rho = torch.tensor([0.3], requires_grad=True)
    copula_nll(quantiles, target, mask, levels, rho).backward()
    assert rho.grad.item() < 0 and quantiles.grad is None  # pushes rho up towards 0.6; quantiles untouched


def test_when_there_is_no_pair_of_steps_then_the_copula_costs_nothing():
    levels = torch.tensor([0.25, 0.5, 0.75])
    rho = torch.tensor([0.5], requires_grad=True)
    assert copula_nll(torch.zeros(2, 1, 1, 3), torch.zeros(2, 1, 1), torch.ones(2, 1, 1), levels, rho).item() == 0.0
    target = _ar1(0.6, batch=10, steps=4)
    q = torch.special.ndtri(levels).expand(*target.shape, -1)
    assert copula_nll(q, target, torch.zeros_like(target), levels, rho).item() == 0.0  # every pair missing


def test_when_the_gradient_is_reversed_then_forward_is_the_identity_and_backward_is_negated_and_scaled():
    x = torch.tensor([1.0, -2.0], requires_grad=True)
    y = reverse_gradient(x, 0.5)
    y.sum().backward()
    assert torch.equal(y, x.detach()) and x.grad.tolist() == [-0.5, -0.5]
