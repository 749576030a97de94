"""Coda and output heads: each latent state decodes into its patch of time steps."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class Coda(nn.Module):
    """Unshared coda: latent state (..., D) -> decoder features (..., D)."""

    def __init__(self, d: int, hidden: int):
        super().__init__()
        self.norm = nn.LayerNorm(d)
        self.mlp = nn.Sequential(nn.Linear(d, hidden), nn.GELU(), nn.Linear(hidden, d))

    def forward(self, h: Tensor) -> Tensor:
        return self.mlp(self.norm(h))


class QuantileHead(nn.Module):
    """Features (B, K, D) -> monotone quantiles (B, K*P, C, Q): base + cumulative softplus increments.

    Initialised to the standard normal's quantiles, the natural prior for scaled targets.
    """

    def __init__(self, d: int, patch_len: int, channels: int, levels: tuple[float, ...]):
        super().__init__()
        self.p, self.c, self.q = patch_len, channels, len(levels)
        self.proj = nn.Linear(d, patch_len * channels * self.q) if channels > 0 else None
        if self.proj is not None:
            z = torch.special.ndtri(torch.tensor(levels, dtype=torch.float64))
            gaps = (z[1:] - z[:-1]).tolist()
            bias = [float(z[0])] + [g + math.log(-math.expm1(-g)) for g in gaps]  # softplus^-1
            with torch.no_grad():
                self.proj.weight.mul_(0.1)
                self.proj.bias.copy_(torch.tensor(bias).repeat(patch_len * channels))

    def forward(self, f: Tensor) -> Tensor:
        b, k, _ = f.shape
        if self.proj is None:
            return f.new_zeros(b, k * self.p, 0, self.q)
        x = self.proj(f).view(b, k * self.p, self.c, self.q)  # (B, K*P, C, Q)
        steps = torch.cumsum(F.softplus(x[..., 1:]), dim=-1)
        return torch.cat([x[..., :1], x[..., :1] + steps], dim=-1)


class EventHead(nn.Module):
    """Features (B, K, D) -> per-step event logits (B, K*P, Ce); starts at a rare-event prior."""

    def __init__(self, d: int, patch_len: int, channels: int, prior: float = 0.05):
        super().__init__()
        self.p, self.c = patch_len, channels
        self.proj = nn.Linear(d, patch_len * channels) if channels > 0 else None
        if self.proj is not None:
            with torch.no_grad():
                self.proj.weight.mul_(0.1)
                self.proj.bias.fill_(math.log(prior / (1 - prior)))

    def forward(self, f: Tensor) -> Tensor:
        b, k, _ = f.shape
        if self.proj is None:
            return f.new_zeros(b, k * self.p, 0)
        return self.proj(f).view(b, k * self.p, self.c)  # (B, K*P, Ce)
