"""Joint sample paths from the quantile forecasts, driven by one explicit noise tensor.

Scheme (Gaussian copula): noise eps ~ N(0, 1) of shape (S, B, H, Ct + Ce) becomes a stationary
AR(1) series along the horizon, x_1 = eps_1, x_t = rho x_{t-1} + sqrt(1 - rho^2) eps_t, so every
x_t is N(0, 1) and neighbouring steps correlate with rho. u = Phi(x) is uniform per step; a
target sample is the forecast's quantile function at u (linear between the grid's levels, the
outer segments extended linearly to u = 0 and u = 1, so samples stay bounded), and an event
fires when u < p. rho is learned per target channel from the PIT of observed targets (see
``losses.copula_nll``) unless configured; events use the configured ``event_rho``.

All randomness is in the noise: the same noise with two plans gives common random numbers, and
the samples differ only at steps whose forecast the plan changed.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Iterator

import torch
from torch import Tensor, nn


@dataclass
class SamplePaths:
    """Joint sample paths in scaled units."""

    target: Tensor  # (S, B, H, Ct)
    event: Tensor  # (S, B, H, Ce) in {0, 1}
    event_prob: Tensor  # (B, H, Ce)
    quantiles: Tensor  # (B, H, Ct, Q) the marginals the samples follow
    noise: Tensor  # (S, B, H, Ct + Ce) the standard normal draws used


def interpolate_quantiles(quantiles: Tensor, levels: Tensor, u: Tensor) -> Tensor:
    """Quantile function at u: knots (..., Q) at levels (Q,), u (S, ...) in [0, 1] -> (S, ...)."""
    q = quantiles.unsqueeze(0).expand(*u.shape, levels.numel())
    right = torch.searchsorted(levels, u.contiguous()).clamp(1, levels.numel() - 1)  # (S, ...)
    lo_level, hi_level = levels[right - 1], levels[right]
    lo = q.gather(-1, (right - 1).unsqueeze(-1)).squeeze(-1)
    hi = q.gather(-1, right.unsqueeze(-1)).squeeze(-1)
    w = (u - lo_level) / (hi_level - lo_level)  # outside [0, 1] on the extended tails
    return lo + w * (hi - lo)


def gaussianize_pit(quantiles: Tensor, levels: Tensor, y: Tensor) -> Tensor:
    """x = Phi^-1(F(y)) with F the interpolated CDF: (..., Q), (Q,), (...) -> (...)."""
    n = levels.numel()
    right = (quantiles <= y.unsqueeze(-1)).sum(-1).clamp(1, n - 1)  # knots are increasing
    lo = quantiles.gather(-1, (right - 1).unsqueeze(-1)).squeeze(-1)
    hi = quantiles.gather(-1, right.unsqueeze(-1)).squeeze(-1)
    u = levels[right - 1] + (y - lo) / (hi - lo).clamp_min(1e-12) * (levels[right] - levels[right - 1])
    return torch.special.ndtri(u.clamp(1e-4, 1 - 1e-4))


def ar1(noise: Tensor, rho: Tensor) -> Tensor:
    """Stationary AR(1) along dim 2 with N(0, 1) marginals: (S, B, H, C), rho (C,) -> (S, B, H, C)."""
    scale = (1 - rho.pow(2)).clamp_min(0).sqrt()
    steps = [noise[:, :, 0]]
    for t in range(1, noise.shape[2]):
        steps.append(rho * steps[-1] + scale * noise[:, :, t])
    return torch.stack(steps, dim=2)


@contextlib.contextmanager
def evaluation(model: nn.Module) -> Iterator[None]:
    """Evaluation semantics (no depth sampling, no dropout, no buffer updates), restored after."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        model.train(was_training)


def sample_paths(model: nn.Module, batch: dict[str, Tensor], num_samples: int,
                 generator: torch.Generator | None = None, noise: Tensor | None = None) -> SamplePaths:
    """Draw joint sample paths of targets and events; ``noise`` (S, B, H, Ct + Ce) fixes every draw."""
    cfg = model.cfg
    ref = batch["past_target"]
    shape = (num_samples, ref.shape[0], cfg.horizon, cfg.target + cfg.event)
    if noise is None:
        noise = torch.randn(shape, generator=generator, device=ref.device, dtype=ref.dtype)
    elif tuple(noise.shape) != shape:
        raise ValueError(f"noise has shape {tuple(noise.shape)}, expected (samples, batch, horizon, "
                         f"targets + events) = {shape}")
    with evaluation(model):
        out = model(batch)
        rho = torch.cat([model.target_rho(), ref.new_full((cfg.event,), cfg.event_rho)])
        u = torch.special.ndtr(ar1(noise, rho))  # (S, B, H, Ct + Ce) uniform marginals
        target = interpolate_quantiles(out.quantiles, model.levels, u[..., :cfg.target])
        event = (u[..., cfg.target:] < out.event_prob).to(ref.dtype)
    return SamplePaths(target, event, out.event_prob, out.quantiles, noise)
