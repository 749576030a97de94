"""The direct linear path: a forecast from the context and covariates, added to every quantile.

Ridge regression on the raw context ties published transformers on EPF, and tsloop lost to it by
6–23 % MSE: a linear map reads seasonal lags (24 h, 168 h) straight off a long context, while the
looped state has to carry them through a pooled latent. So the forecast is split in two,

    quantiles = direct(context, covariates) + looped decoder(h_k),

and the looped world model learns what the direct part cannot: events, uncertainty, and the effect
of interventions. The direct part reads

* the target's own context (one L -> H map shared by every target channel, in instance units:
  RLinear);
* the known-future inputs at each horizon step (one C_known -> C_target map per step) and, where
  that map has at most ``LINEAR_FULL_MAX`` weights, every known step to every horizon step (as
  ridge does);
* the known-future inputs over the L context steps, to every horizon step
  (``linear_context_covariates="known"``, the default; ``"all"`` adds the past-only inputs,
  ``"none"`` reads neither), only up to ``LINEAR_CONTEXT_MAX`` weights. Ridge on EPF NP
  loses 0.218 -> 0.239 MSE without them (BE 0.390 -> 0.440), and tsloop gains 0.231 -> 0.214
  (3 seeds, a map of 8,064 weights); larger maps cost accuracy where they were measured: the
  past-only loads of ETTh1 `MS` (55,296 weights) 0.056 -> 0.063, the demo's known inputs (46,080)
  forecast CRPS / seasonal naive 0.48 -> 0.50 (2 seeds);
* the monomials of degree 2 .. ``linear_known_poly`` (default 3) of each horizon step's known row
  (squares, cubes and products: 7 terms for two inputs), mapped per step and, where that map has
  at most ``LINEAR_FULL_MAX`` weights, from every step to every horizon step. They are in the
  task's units (divided by the context's spread): a price's response to load does not scale with
  how much the price moved last week. Ridge with these terms on EPF NP: 0.218 -> 0.184 test MSE;
  in instance units they gained nothing (0.221);
* with ``linear_known_hidden`` > 0, a small MLP of each horizon step's known row, shared by the
  steps (measured on EPF NP: 0.216 against 0.212 without; not a default).

The covariate terms are in instance units (scaled by the context's spread, like the target's own
term) or, with ``linear_covariate_units="task"``, in the task's scaled units, as ridge reads them.
Interventions are not read here: a plan's effect on the forecast comes only through the looped
dynamics. Every map starts at zero, so an untrained model forecasts exactly as the looped decoder
alone. Training (``TrainConfig.direct_path``, default ``"auto"``) then sets the path to its
least-squares fit on the training windows and keeps it there, and the looped model learns the
residual (``tsloop/train/prefit.py``); a model with interventions trains it jointly instead, and
its what-if defaults leave the monomials out (``WHATIF_DEFAULTS``).
"""

from __future__ import annotations

import itertools

import torch
from torch import Tensor, nn

from tsloop.model.config import LINEAR_CONTEXT_MAX, LINEAR_FULL_MAX, ModelConfig


class LinearPath(nn.Module):
    """Normalised batch -> direct forecast of the horizon (B, H, Ct) in instance units."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        h, ct, ck = cfg.horizon, cfg.target, cfg.known_future
        self.horizon, self.task_units = h, cfg.linear_covariate_units == "task"
        self.context = nn.Linear(cfg.context_length, h)  # shared across target channels
        nn.init.zeros_(self.context.weight)
        nn.init.zeros_(self.context.bias)
        self.known = nn.Parameter(torch.zeros(h, ck, ct)) if ck else None
        # every known-future step to every horizon step, as ridge reads them (H Ck -> H Ct), unless that is large
        full = ck and cfg.linear_known_full and h * ck * h * ct <= LINEAR_FULL_MAX
        self.known_full = nn.Parameter(torch.zeros(h * ck, h * ct)) if full else None
        self.read_exog = cfg.linear_context_covariates == "all"
        cc = {"none": 0, "known": ck, "all": cfg.past_exog + ck}[cfg.linear_context_covariates]
        past = cc and cfg.context_length * cc * h * ct <= LINEAR_CONTEXT_MAX  # covariates seen over the context
        self.past_full = nn.Parameter(torch.zeros(cfg.context_length * cc, h * ct)) if past else None
        self.known_mlp = None
        if ck and cfg.linear_known_hidden > 0:
            self.known_mlp = nn.Sequential(nn.Linear(ck, cfg.linear_known_hidden), nn.GELU(),
                                           nn.Linear(cfg.linear_known_hidden, ct))
            nn.init.zeros_(self.known_mlp[-1].weight)
            nn.init.zeros_(self.known_mlp[-1].bias)
        # monomials of degree 2..linear_known_poly of each step's known row: index tuples into its channels
        combos = [c for d in range(2, cfg.linear_known_poly + 1)
                  for c in itertools.combinations_with_replacement(range(ck), d)] if ck else []
        self.poly_terms = [torch.tensor(c) for c in combos]
        self.known_poly = nn.Parameter(torch.zeros(h, len(combos), ct)) if combos else None
        # and every step's monomials to every horizon step, as with the known row itself, unless that is large
        poly_full = combos and cfg.linear_known_full and h * len(combos) * h * ct <= LINEAR_FULL_MAX
        self.known_poly_full = nn.Parameter(torch.zeros(h * len(combos), h * ct)) if poly_full else None

    def forward(self, batch: dict[str, Tensor]) -> Tensor:
        """Direct forecast of the horizon (B, H, Ct) from a normalised batch."""
        y = batch["past_target"] * batch["past_target_mask"]  # (B, L, Ct), missing steps count as the mean
        out = self.context(y.transpose(1, 2)).transpose(1, 2)  # (B, H, Ct)
        out = out + self.covariates(batch, out) / self._unit(batch)
        known = self._horizon_known(batch)
        if self.known_poly is not None and known is not None:
            out = out + self.monomials(known) / batch.get("target_scale", 1.0)
        return out

    def _horizon_known(self, batch: dict[str, Tensor]) -> Tensor | None:
        """The known-future inputs over the horizon (B, H, Ck), or None when the batch has none or they
        stop short of the horizon (then no known term is read)."""
        known = batch.get("future_known")
        return known[:, : self.horizon] if known is not None and known.shape[1] >= self.horizon else None

    def monomials(self, known: Tensor) -> Tensor:
        """The monomial term (B, H, Ct) in the task's units of the horizon's known rows (B, H, Ck): each
        step's products and powers of its row, mapped by that step's weights."""
        terms = torch.stack([known[..., c].prod(-1) for c in self.poly_terms], dim=-1)  # (B, H, M)
        out = torch.einsum("bhm,hmc->bhc", terms, self.known_poly)
        if self.known_poly_full is not None:
            out = out + (terms.flatten(1) @ self.known_poly_full).view_as(out)
        return out

    def covariates(self, batch: dict[str, Tensor], like: Tensor) -> Tensor:
        """The covariate terms (B, H, Ct) in the configured units."""
        out = torch.zeros_like(like)
        known = self._horizon_known(batch)
        if self.known is not None and known is not None:
            out = out + torch.einsum("bhk,hkc->bhc", known, self.known)
            if self.known_full is not None:
                out = out + (known.flatten(1) @ self.known_full).view_as(out)
            if self.known_mlp is not None:
                out = out + self.known_mlp(known)
        if self.past_full is not None:
            past = torch.cat([batch["past_exog"], batch["past_known"]], dim=-1) if self.read_exog else batch["past_known"]
            out = out + (past.flatten(1) @ self.past_full).view_as(out)
        return out

    def _unit(self, batch: dict[str, Tensor]) -> Tensor | float:
        """Divisor that takes the covariate terms into instance units: the context's spread (B, 1, Ct)
        for task units (1 when targets are not instance-normalised), else 1."""
        return batch.get("target_scale", 1.0) if self.task_units else 1.0
