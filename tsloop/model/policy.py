"""The logging operator's policy, learned from the log: where a plan stands in its support.

A what-if answer is only as good as the log's evidence about the plan (overlap, or positivity):
if the operator never throttled a healthy cluster, no model fitted to its log knows what
throttling a healthy cluster does. ``PolicyHead`` learns the distribution of the controls the
operator set over a patch (quantiles per step and control, scaled units) from what it had just
seen: the previous patch's observation and the patch's known inputs and statics. It does not
read the controls already in force. Conditioned on them it would learn "the operator keeps
what it has", and every plan that moves a control would look unsupported, even to a level the
operator ran under the same conditions many times.

A plan's control is then scored by its two-sided tail probability under those quantiles
(``tail_probability`` in sampling.py): 1 at the operator's median choice, near 0 for a value the
operator never chose in such a state. The policy head trains on detached embeddings: it
describes the log and does not shape the world model.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from tsloop.model.config import ModelConfig
from tsloop.model.heads import QuantileHead


class PolicyHead(nn.Module):
    """(observation of patch k-1 (..., K, D), known drive of patch k (..., K, D)) -> control
    quantiles (..., K*P, Ci, Q) of patch k."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        d = cfg.d_model
        self.body = nn.Sequential(nn.Linear(2 * d, cfg.coda_hidden), nn.GELU(), nn.Linear(cfg.coda_hidden, d))
        self.head = QuantileHead(d, cfg.patch_len, cfg.intervention, cfg.quantiles)

    def forward(self, seen: Tensor, known: Tensor) -> Tensor:
        return self.head(self.body(torch.cat([seen, known], dim=-1)))


def policy_inputs(model: nn.Module, batch: dict[str, Tensor], future_target: Tensor,
                  future_event: Tensor, future_mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """What the operator saw before each horizon patch and the patch's known drive, detached:
    (R, K, D) each, for a normalised batch of R rows and the horizon's (observed or drawn)
    targets (R, H, Ct) in instance units, their mask (None: all seen) and events (R, H, Ce)."""
    with torch.no_grad():
        last = model.last_context_obs(batch)
        mask = torch.ones_like(future_target) if future_mask is None else future_mask
        future = model.obs_embed(future_target, mask, future_event, False)
        seen = torch.cat([last, future[:, :-1]], dim=1)  # (R, K, D): patch k-1's observation
        known = model.drive_embed.exogenous(batch)  # (R, K, D)
    return seen.detach(), known.detach()
