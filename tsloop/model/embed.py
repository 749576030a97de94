"""Patch embeddings of every input role, and the prelude that injects them into the loop.

A token (and one outer step) covers ``patch_len`` time steps; each role's values in a patch are
flattened and embedded linearly. The context is padded at the front (padded target steps are
flagged missing), the future at the back. A role with no channels embeds to zero.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from tsloop.errors import PlanError
from tsloop.model.config import ModelConfig

PLAN_KEYS = ("future_known", "future_control", "future_control_mask")  # (B, H', C) each, + "static"


def patchify(x: Tensor, patch_len: int, pad_front: bool) -> Tensor:
    """(B, T, C) -> (B, ceil(T / P), P * C), zero-padded at the front or the back."""
    b, t, c = x.shape
    n = math.ceil(t / patch_len)
    pad = n * patch_len - t
    if pad:
        x = nn.functional.pad(x, (0, 0, pad, 0) if pad_front else (0, 0, 0, pad))
    return x.reshape(b, n, patch_len * c)


class PatchEmbed(nn.Module):
    """One role's patch (B, N, P*C) -> (B, N, D); zero when the role has no channels."""

    def __init__(self, channels: int, patch_len: int, d: int):
        super().__init__()
        self.d = d
        self.proj = nn.Linear(channels * patch_len, d) if channels > 0 else None

    def forward(self, x: Tensor) -> Tensor:
        if self.proj is None:
            return x.new_zeros(*x.shape[:-1], self.d)
        return self.proj(x)


class ObservationEmbed(nn.Module):
    """e = E(o): observed targets (zeroed where missing) with their mask, and event labels."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.patch_len = cfg.patch_len
        self.target = PatchEmbed(2 * cfg.target, cfg.patch_len, cfg.d_model)
        self.event = PatchEmbed(cfg.event, cfg.patch_len, cfg.d_model)

    def forward(self, target: Tensor, mask: Tensor, event: Tensor, pad_front: bool) -> Tensor:
        """(B, T, Ct), (B, T, Ct), (B, T, Ce) -> (B, ceil(T / P), D)."""
        obs = torch.cat([target * mask, mask], dim=-1)  # (B, T, 2Ct)
        return (self.target(patchify(obs, self.patch_len, pad_front))
                + self.event(patchify(event, self.patch_len, pad_front)))


class DriveEmbed(nn.Module):
    """u = U([x; a; m]): exogenous inputs, interventions with their given-mask, and statics."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        p, d = cfg.patch_len, cfg.d_model
        self.past_exog = PatchEmbed(cfg.past_exog, p, d)  # context only: unknown over the horizon
        self.known = PatchEmbed(cfg.known_future, p, d)
        self.control = PatchEmbed(2 * cfg.intervention, p, d)
        self.static = nn.Linear(cfg.static, d) if cfg.static > 0 else None

    def _static(self, static: Tensor, like: Tensor) -> Tensor:
        if self.static is None:
            return torch.zeros_like(like)
        return self.static(static)[:, None, :]  # (B, 1, D) broadcast over patches

    def context(self, batch: dict[str, Tensor]) -> Tensor:
        """Past drive of the context window: (B, N_c, D)."""
        p = self.cfg.patch_len
        control = torch.cat([batch["past_control"], batch["past_control_mask"]], dim=-1)
        u = (self.past_exog(patchify(batch["past_exog"], p, True))
             + self.known(patchify(batch["past_known"], p, True))
             + self.control(patchify(control, p, True)))
        return u + self._static(batch["static"], u)

    def future(self, plan: dict[str, Tensor]) -> Tensor:
        """Future drive of a plan (the batch's future inputs, or a what-if): (B, ceil(H' / P), D)."""
        known, control, mask, static = self._check(plan)
        p = self.cfg.patch_len
        u = (self.known(patchify(known, p, False))
             + self.control(patchify(torch.cat([control, mask], dim=-1), p, False)))
        return u + self._static(static, u)

    def _check(self, plan: dict[str, Tensor]) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        cfg = self.cfg
        ref = next((plan[k] for k in PLAN_KEYS if k in plan), None)
        if ref is None:
            raise PlanError(f"a plan needs at least one of {PLAN_KEYS} (shape (batch, steps, channels))")
        b, h = ref.shape[:2]
        widths = {"future_known": cfg.known_future, "future_control": cfg.intervention,
                  "future_control_mask": cfg.intervention}
        out = []
        for key, width in widths.items():
            x = plan.get(key)
            if x is None:
                # an absent mask means every given control value counts; absent values are "not set"
                fill = 1.0 if key == "future_control_mask" and "future_control" in plan else 0.0
                x = ref.new_full((b, h, width), fill)
            if tuple(x.shape) != (b, h, width):
                raise PlanError(f"plan[{key!r}] has shape {tuple(x.shape)}, expected {(b, h, width)} "
                                f"(batch, steps, channels); the model was built for {width} channel(s)")
            out.append(x)
        static = plan.get("static")
        if static is None:
            static = ref.new_zeros(b, cfg.static)
        if tuple(static.shape) != (b, cfg.static):
            raise PlanError(f"plan['static'] has shape {tuple(static.shape)}, expected {(b, cfg.static)}")
        return (*out, static)


class Prelude(nn.Module):
    """p = Norm(P([e; u])): the unshared injection of one step's observation and drive.

    The state h_{k-1} does not enter p: it enters the loop only as its warm start z^(0), so with
    the drive held fixed the outer step h_{k-1} -> h_k is the inner contraction iterated, and its
    Lipschitz constant is certified below 1 (``stability.outer_bound``). A LayerNorm on a path
    from h would have no global Lipschitz bound. The norm caps ||p|| (Parcae's fix for spikes).
    """

    def __init__(self, d: int):
        super().__init__()
        self.proj = nn.Linear(2 * d, d)
        self.norm = nn.LayerNorm(d)

    def forward(self, e: Tensor, u: Tensor) -> Tensor:
        """(..., D) x 2 -> (..., D)."""
        return self.norm(self.proj(torch.cat([e, u], dim=-1)))
