"""The direct linear path: a linear forecast from the context, added to every quantile.

Ridge regression on the raw context ties published transformers on EPF, and tsloop lost to it by
6–23 % MSE: a linear map reads seasonal lags (24 h, 168 h) straight off a long context, while the
looped state has to carry them through a pooled latent. So the forecast is split in two,

    quantiles = linear(context, known future) + looped decoder(h_k),

and the looped world model learns what the linear map cannot: nonlinear responses, events,
uncertainty, and the effect of interventions. The linear part reads the target's own context
(one L -> H map shared by every target channel, in instance units: RLinear) and the known-future
inputs: at each horizon step (one C_known -> C_target map per step) and, where that map has at
most ``LINEAR_FULL_MAX`` weights, every known step to every horizon step (as ridge does). Interventions are not read
here: a plan's effect on the forecast comes only through the looped dynamics.

Both maps start at zero, so an untrained model forecasts exactly as the looped decoder alone.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from tsloop.model.config import LINEAR_FULL_MAX, ModelConfig


class LinearPath(nn.Module):
    """Context (B, L, Ct) and known future (B, H, Ck) -> linear forecast (B, H, Ct) in instance units."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.horizon = cfg.horizon
        self.context = nn.Linear(cfg.context_length, cfg.horizon)  # shared across target channels
        nn.init.zeros_(self.context.weight)
        nn.init.zeros_(self.context.bias)
        self.known = nn.Parameter(torch.zeros(cfg.horizon, cfg.known_future, cfg.target)) if cfg.known_future else None
        # every known-future step to every horizon step, as ridge reads them (H Ck -> H Ct), unless that is large
        size = cfg.horizon * cfg.known_future * cfg.horizon * cfg.target
        full = cfg.known_future and cfg.linear_known_full and size <= LINEAR_FULL_MAX
        self.known_full = nn.Parameter(torch.zeros(cfg.horizon * cfg.known_future, cfg.horizon * cfg.target)) if full else None

    def forward(self, batch: dict[str, Tensor]) -> Tensor:
        """Linear forecast of the horizon (B, H, Ct) from a (normalised) batch."""
        y = batch["past_target"] * batch["past_target_mask"]  # (B, L, Ct), missing steps count as the mean
        out = self.context(y.transpose(1, 2)).transpose(1, 2)  # (B, H, Ct)
        known = batch.get("future_known")
        if self.known is not None and known is not None and known.shape[1] >= self.horizon:
            out = out + torch.einsum("bhk,hkc->bhc", known[:, : self.horizon], self.known)
            if self.known_full is not None:
                out = out + (known[:, : self.horizon].flatten(1) @ self.known_full).view_as(out)
        return out
