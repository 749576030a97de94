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


def control_shift(cfg: ModelConfig) -> int:
    """Rows by which controls are delayed before they are cut into patches (causal alignment).

    A patch's outcomes are decoded from one state, which sees the whole patch's drive. A control
    logged inside the patch may have been chosen after some of those outcomes were seen (the
    operator reacted to them), so reading it there would predict outcomes from their own
    consequences. Delayed by P - 1 + lag rows, the controls driving patch k are those logged up to
    its first row minus the lag: every one of them was set before any outcome it is asked to
    explain. The price is resolution: a control set mid-patch acts from the next patch on.
    ``control_lag`` None (models trained before alignment) keeps the old, unaligned reading."""
    if cfg.control_lag is None or cfg.intervention == 0:
        return 0
    return cfg.patch_len - 1 + cfg.control_lag


def delay(x: Tensor, rows: int, before: Tensor) -> Tensor:
    """x (B, T, C) delayed by ``rows``: the last rows of ``before`` (B, T', C) come first, zeros
    (not set, mask 0) where ``before`` is too short; the last ``rows`` rows of x drop out."""
    if rows == 0:
        return x
    lead = before[:, -rows:] if before.shape[1] else before
    pad = x.new_zeros(x.shape[0], rows - lead.shape[1], x.shape[2])
    return torch.cat([pad, lead, x], dim=1)[:, : x.shape[1]]


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
        self.control = PatchEmbed(2 * cfg.intervention, p, d * cfg.control_members)  # one D block per member
        self.static = nn.Linear(cfg.static, d) if cfg.static > 0 else None
        # the context's level (level_input): starts inert, so the model begins as it would without it
        self.level = nn.Linear(2 * cfg.target, d) if cfg.level_input and cfg.target > 0 else None
        if self.level is not None:
            nn.init.zeros_(self.level.weight), nn.init.zeros_(self.level.bias)
        self.shift = control_shift(cfg)

    def _static(self, static: Tensor, like: Tensor, batch: dict[str, Tensor]) -> Tensor:
        """Statics and, under ``level_input``, the context's level: (B, 1, D), broadcast over patches."""
        out = torch.zeros_like(like[:, :1]) if self.static is None else self.static(static)[:, None, :]
        if self.level is None:
            return out
        shift, scale = batch.get("target_shift"), batch.get("target_scale")
        if shift is None or scale is None:
            raise PlanError("this model reads each target's context level (level_input): give the plan the "
                            "'target_shift' and 'target_scale' (batch, 1, targets) of its context, as "
                            "model.normalise(batch) returns them, e.g. by passing the normalised batch")
        return out + self.level(torch.cat([shift, scale.log()], dim=-1))  # (B, 1, 2Ct) -> (B, 1, D)

    def context(self, batch: dict[str, Tensor]) -> Tensor:
        """Past drive of the context window: (B, N_c, D)."""
        p = self.cfg.patch_len
        control = torch.cat([batch["past_control"], batch["past_control_mask"]], dim=-1)
        control = delay(control, self.shift, control.new_zeros(control.shape[0], 0, control.shape[2]))
        u = (self.past_exog(patchify(batch["past_exog"], p, True))
             + self.known(patchify(batch["past_known"], p, True))
             + self._members(self.control(patchify(control, p, True)), batch.get("member")))
        return u + self._static(batch["static"], u, batch)

    def future(self, plan: dict[str, Tensor]) -> Tensor:
        """Future drive of a plan (the batch's future inputs, or a what-if): (B, ceil(H' / P), D)."""
        known, control, mask, static = self._check(plan)
        p = self.cfg.patch_len
        control = torch.cat([control, mask], dim=-1)
        if self.shift:  # the last context controls act inside the first future patches
            past, past_mask = plan.get("past_control"), plan.get("past_control_mask")
            if past is None or past_mask is None:
                raise PlanError(
                    f"this model's controls act {self.shift} rows late (causal alignment: patches of {p} rows, "
                    f"control lag {self.cfg.control_lag}), so the last {self.shift} logged controls of the context "
                    "act in the first future patch. Give the plan 'past_control' and 'past_control_mask' "
                    "(batch, context steps, controls), e.g. the context window's own; a zero mask says they "
                    "are unknown.")
            control = delay(control, self.shift, torch.cat([past, past_mask], dim=-1))
        u = (self.known(patchify(known, p, False))
             + self._members(self.control(patchify(control, p, False)), plan.get("member")))
        return u + self._static(static, u, plan)

    def exogenous(self, plan: dict[str, Tensor]) -> Tensor:
        """The future drive without the controls: known inputs and statics, (B, ceil(H' / P), D)."""
        known, _, _, static = self._check(plan)
        u = self.known(patchify(known, self.cfg.patch_len, False))
        return u + self._static(static, u, plan)

    def _members(self, x: Tensor, member: Tensor | None) -> Tensor:
        """(B, N, M*D) embeddings of every control member -> (B, N, D): row b's member, or their mean."""
        m = self.cfg.control_members
        if m == 1:
            return x
        x = x.view(*x.shape[:-1], m, -1)  # (B, N, M, D)
        if member is None:
            return x.mean(-2)
        index = member.view(-1, 1, 1, 1).expand(-1, x.shape[1], 1, x.shape[-1])
        return x.gather(-2, index).squeeze(-2)

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
