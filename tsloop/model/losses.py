"""Loss terms of the world model; ``WorldModel.loss`` composes them.

total = forecast pinball + event BCE
        + alpha * consistency + beta * path hinge            (deferred decoding only)
        + lambda_J * Jacobian penalty
        + copula NLL (trains only the copula's rho) + gate loss (gate exit rules only)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from tsloop.model.sampling import gaussianize_pit


def pinball(quantiles: Tensor, target: Tensor, mask: Tensor, levels: Tensor) -> Tensor:
    """Mean pinball loss over observed entries and levels: (B, H, C, Q), (B, H, C) x 2, (Q,)."""
    diff = target[..., None] - quantiles
    loss = torch.maximum(levels * diff, (levels - 1) * diff)
    weight = mask[..., None].to(loss.dtype)
    return (loss * weight).sum() / (weight.sum() * levels.numel()).clamp_min(1.0)


def event_bce(logits: Tensor, labels: Tensor, pos_weight: float) -> Tensor:
    """Per-step BCE with positives weighted by ``pos_weight``: (B, H, Ce) x 2 -> ()."""
    if logits.numel() == 0:
        return logits.sum()
    weight = torch.tensor(pos_weight, dtype=logits.dtype, device=logits.device)
    return F.binary_cross_entropy_with_logits(logits, labels, pos_weight=weight)


def consistency(predicted: Tensor, target: Tensor) -> Tensor:
    """mean_k ||g(h_k) - sg(E'(o_k))||^2 / D over (B, K, D); the target is detached here.

    Divided by D (a per-channel mean) so that alpha weighs the same at every width: the plain
    squared norm at D = 64 outweighs the pinball loss a hundredfold at initialisation.
    """
    return (predicted - target.detach()).pow(2).mean()


def path_hinge(states: Tensor, c_max: float) -> Tensor:
    """mean_b max(0, sum_k ||h_{k+1} - h_k|| - K * C_max) for states (B, K+1, D)."""
    k = states.shape[1] - 1
    length = (states[:, 1:] - states[:, :-1]).norm(dim=-1).sum(1)
    return F.relu(length - k * c_max).mean()


def jacobian_penalty(h_next: Tensor, h_prev: Tensor) -> Tensor:
    """Hutchinson-style estimate of E ||dh_k/dh_{k-1}||_F^2: D * ||v^T J||^2 with one unit v per sequence.

    ``h_prev`` (B, D) must require grad and ``h_next`` (B, D) be computed from it (Hoffman et al. 2019).
    """
    v = F.normalize(torch.randn_like(h_next), dim=-1)
    (vjp,) = torch.autograd.grad(h_next, h_prev, grad_outputs=v, create_graph=True)
    return h_next.shape[-1] * vjp.pow(2).sum(-1).mean()


def copula_nll(quantiles: Tensor, target: Tensor, mask: Tensor, levels: Tensor, rho: Tensor) -> Tensor:
    """Gaussian AR(1) copula NLL of the observed targets' PIT values; trains rho only.

    (B, H, C, Q), (B, H, C) x 2, (Q,), (C,) -> (). Pairs with a missing side are skipped.
    """
    if target.shape[1] < 2 or target.shape[2] == 0:
        return rho.sum() * 0.0
    x = gaussianize_pit(quantiles.detach(), levels, target)  # (B, H, C)
    pair = (mask[:, 1:] * mask[:, :-1]).to(x.dtype)
    var = (1 - rho.pow(2)).clamp_min(1e-4)
    resid = x[:, 1:] - rho * x[:, :-1]
    nll = 0.5 * (resid.pow(2) / var + var.log())
    return (nll * pair).sum() / pair.sum().clamp_min(1.0)


class _ReverseGradient(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, scale: float) -> Tensor:
        ctx.scale = scale
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None]:
        return -ctx.scale * grad, None


def reverse_gradient(x: Tensor, scale: float) -> Tensor:
    """Identity forward; backward multiplies the gradient by -scale (Ganin & Lempitsky's gradient
    reversal, as CRN balances its representation against the treatment)."""
    return _ReverseGradient.apply(x, scale)
