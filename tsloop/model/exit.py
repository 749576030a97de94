"""Early-exit rules of the inner loop, decided per sequence.

- ``delta`` (default, Huginn): stop when ||z_t - z_{t-1}|| / ||z_t|| < eps. Because the inner
  step is a certified kappa-contraction, the distance to the fixed point is then at most
  kappa / (1 - kappa) * eps * ||z_t||.
- ``second_diff`` (Pappone et al., two-scale exit): stop when the acceleration
  ||(z_t - z_{t-1}) - (z_{t-1} - z_{t-2})|| / ||z_t|| < eps on two consecutive loops.
- ``gate`` (LoopWM): stop when g = sigmoid(w^T z + b) > tau. LoopWM publishes neither tau nor
  the training signal; here the gate defines an exit distribution p_t = g_t prod_{s<t}(1 - g_s)
  over the loops actually run and minimises the expected cost of stopping,
  E_p[kappa / (1 - kappa) * r_t + c * t] (certified relative error plus a price per loop),
  minus an entropy bonus so the gate does not collapse to always or never exiting. The gate
  reads z detached: it learns when to stop, not how to shape the state.
- ``gate_cdf``: the same gate, but stop when the exit distribution's CDF 1 - prod_s(1 - g_s)
  passes tau (as Ouro does). Once z has converged the gate cannot tell loop 4 from loop 8, so
  it learns a spread-out hazard that rarely exceeds 0.5 and ``gate`` then never exits early;
  the CDF rule reads the same hazard as intended.
- ``none``: run the full depth.

Every rule runs at least ``exit_min_loops`` loops.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from tsloop.model.config import ModelConfig


def _relative(x: Tensor, ref: Tensor) -> Tensor:
    """Per-sequence ||x|| / ||ref|| over all tokens and channels: (B, N, D) -> (B,)."""
    return x.flatten(1).norm(dim=1) / ref.flatten(1).norm(dim=1).clamp_min(1e-8)


class ExitRule(nn.Module):
    """Decides, after each loop, which sequences may stop; owns the learned gate's weights."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.rule = cfg.exit_rule
        self.eps, self.min_loops, self.tau = cfg.exit_eps, cfg.exit_min_loops, cfg.gate_threshold
        self.kappa, self.loop_cost = cfg.kappa, cfg.gate_loop_cost
        self.entropy_weight = cfg.gate_entropy_weight
        self.gate = nn.Linear(cfg.d_model, 1) if self.rule.startswith("gate") else None

    def gate_prob(self, z: Tensor) -> Tensor:
        """g = sigmoid(w^T mean_tokens(z) + b): (B, N, D) -> (B,)."""
        return torch.sigmoid(self.gate(z.mean(1))).squeeze(-1)

    def start(self, batch: int, device: torch.device) -> dict[str, Tensor | None]:
        return {"last_step": None, "hits": torch.zeros(batch, dtype=torch.long, device=device),
                "survive": torch.ones(batch, device=device)}

    def stop(self, state: dict, z_prev: Tensor, z: Tensor, used: Tensor) -> Tensor:
        """(B,) bool: sequences whose loop may end after this iteration."""
        step = z - z_prev
        if self.rule == "delta":
            stop = _relative(step, z) < self.eps
        elif self.rule == "second_diff":
            last, state["last_step"] = state["last_step"], step
            if last is None:
                return torch.zeros_like(used, dtype=torch.bool)
            hit = _relative(step - last, z) < self.eps
            state["hits"] = (state["hits"] + 1) * hit  # consecutive hits; reset on a miss
            stop = state["hits"] >= 2
        elif self.rule == "gate":
            stop = self.gate_prob(z) > self.tau
        elif self.rule == "gate_cdf":
            state["survive"] = state["survive"] * (1 - self.gate_prob(z))
            stop = 1 - state["survive"] > self.tau
        else:
            stop = torch.zeros_like(used, dtype=torch.bool)
        return stop & (used >= self.min_loops)

    def gate_loss(self, trace: list[tuple[Tensor, Tensor, Tensor]]) -> Tensor:
        """Expected stopping cost minus entropy bonus over a loop trace of (z_prev, z, active)."""
        gates, costs, loops = [], [], None
        for z_prev, z, active in trace:
            loops = active.long() if loops is None else loops + active.long()
            g = self.gate_prob(z.detach()) * active  # no exit mass on loops not run
            r = _relative(z - z_prev, z).detach()
            gates.append(g)
            costs.append(self.kappa / (1 - self.kappa) * r + self.loop_cost * loops)
        g = torch.stack(gates, 1)  # (B, T)
        g = torch.cat([g[:, :-1], torch.ones_like(g[:, -1:])], 1)  # the last loop takes the rest
        survive = torch.cumprod(torch.cat([torch.ones_like(g[:, :1]), 1 - g[:, :-1]], 1), 1)
        p = g * survive  # (B, T) exit distribution, rows sum to 1
        expected = (p * torch.stack(costs, 1)).sum(1)
        entropy = -(p * p.clamp_min(1e-8).log()).sum(1)
        return (expected - self.entropy_weight * entropy).mean()
