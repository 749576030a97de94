"""The looped core: one shared block iterated in depth, z <- A-bar*z + B-bar p + gamma*F(z, p).

Parcae's parameterisation: A = -exp(a), Delta = softplus(delta), A-bar = exp(Delta * A) in (0, 1),
B-bar = Delta * B, initialised at a = 0, A-bar ~ 0.447, B = I. F is an MLP over channels made of
spectral-normalised maps and MaxMin, with no normalisation in it and no dot-product attention;
while encoding the context it also mixes tokens through a spectral-normalised map over the
token axis. gamma is capped on every forward so that max(A-bar) + gamma * Lip(F) <= kappa.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from tsloop.model.config import ModelConfig
from tsloop.model.exit import ExitRule
from tsloop.model.stability import SpectralLinear, maxmin, spectral_norm_exact


@dataclass
class BlockCoefficients:
    """A block's tensors for one forward pass (weights normalised once, not once per loop)."""

    retention: Tensor  # (D,) A-bar
    injection: Tensor  # (D, D) B-bar = diag(Delta) B
    gamma: Tensor  # () capped step size of F
    weights: list[Tensor]  # F's maps; the first acts on [mix(z); p] (2D inputs)
    biases: list[Tensor]
    mixer: Tensor | None  # (N, N) token mixer, used while encoding the context
    lip_f: float  # certified Lip(F) in z (exact spectral norms)
    certified: float  # max|A-bar| + |gamma| * Lip(F): the inner step's Lipschitz bound


@dataclass
class LoopTrace:
    """What the passes of one forward record: loops used per core call, the learned gate's losses."""

    loops_used: list[Tensor] = field(default_factory=list)  # (B,) per core call
    gate_losses: list[Tensor] = field(default_factory=list)

    def mean_loops(self) -> float:
        return float(torch.stack(self.loops_used).float().mean()) if self.loops_used else 0.0


@dataclass
class LoopRun:
    """How one forward pass loops (per-sequence depth, backprop window, exit), and where it records.

    The settings are fixed for the pass; ``trace`` collects what the pass used. Auxiliary passes
    of a training loss (teacher forcing, the Jacobian probe) run ``untraced()``: same settings,
    nothing recorded.
    """

    depth: Tensor  # (B,) loops per sequence (the cap when early_exit)
    grad_loops: int  # backprop only through the last this-many loops
    early_exit: bool  # apply the exit rule (evaluation)
    coefficients: list[BlockCoefficients]
    train_gate: bool = False  # record traces for the learned gate's loss
    trace: LoopTrace | None = field(default_factory=LoopTrace)

    def untraced(self, **changes) -> "LoopRun":
        """The same settings (with ``changes``) for a pass whose loops are not recorded."""
        return dataclasses.replace(self, trace=None, **changes)

    @property
    def loops_used(self) -> list[Tensor]:
        return self.trace.loops_used if self.trace is not None else []

    @property
    def gate_losses(self) -> list[Tensor]:
        return self.trace.gate_losses if self.trace is not None else []

    def mean_loops(self) -> float:
        return self.trace.mean_loops() if self.trace is not None else 0.0


def _softplus_inverse(y: float) -> float:
    return y + math.log(-math.expm1(-y))


class LoopBlock(nn.Module):
    """The shared block: retention a, delta, injection B, the map F and its step size gamma."""

    def __init__(self, cfg: ModelConfig, n_tokens: int):
        super().__init__()
        d, c = cfg.d_model, cfg.constrained
        self.constrained, self.kappa, self.retention_max = c, cfg.kappa, cfg.retention_max
        step0 = -math.log(cfg.retention_init)  # Delta * exp(a) at init, with a = 0
        # Constrained: a is Parcae's log-rate. Unconstrained ablation: a *is* A-bar, free.
        self.a = nn.Parameter(torch.zeros(d) if c else torch.full((d,), cfg.retention_init))
        self.delta = nn.Parameter(torch.full((d,), _softplus_inverse(step0)))
        self.B = nn.Parameter(torch.eye(d))
        widths = [2 * d] + [cfg.f_hidden] * (cfg.f_layers - 1) + [d]
        self.f = nn.ModuleList(SpectralLinear(i, o, normalise=c) for i, o in zip(widths, widths[1:]))
        self.mixer = SpectralLinear(n_tokens, n_tokens, bias=False, normalise=c) if n_tokens > 1 else None
        gamma0 = cfg.gamma_init
        # Constrained: gamma = cap * sigmoid(raw). Unconstrained: gamma = raw, started at a similar value.
        self.gamma_raw = nn.Parameter(torch.tensor(
            math.log(gamma0 / (1 - gamma0)) if c else gamma0 * (cfg.kappa - cfg.retention_init)))

    def coefficients(self, update: bool | None = None) -> BlockCoefficients:
        """Normalise the weights, cap gamma, and certify the step's Lipschitz bound."""
        step = F.softplus(self.delta)  # Delta (D,)
        if self.constrained:
            # A-bar = exp(-Delta exp(a)), clamped into [e^-30, retention_max]: (0, 1) and < kappa.
            rate = (step * torch.exp(self.a)).clamp(min=-math.log(self.retention_max), max=30.0)
            retention = torch.exp(-rate)
        else:
            retention = self.a
        weights = [m.normalised_weight(update) for m in self.f]
        mixer = self.mixer.normalised_weight(update) if self.mixer is not None else None
        d = retention.shape[0]
        lip_f = spectral_norm_exact(weights[0][:, :d])
        for w in weights[1:]:
            lip_f *= spectral_norm_exact(w)
        if mixer is not None:  # mix(z) = (z + W z) / 2 while encoding, identity while rolling
            lip_f *= max(1.0, (1 + spectral_norm_exact(mixer)) / 2)
        if self.constrained:
            cap = (self.kappa - retention.max()) / max(lip_f, 1e-12)
            gamma = cap * torch.sigmoid(self.gamma_raw)
        else:
            gamma = self.gamma_raw
        certified = float(retention.detach().abs().max()) + float(gamma.detach().abs()) * lip_f
        return BlockCoefficients(retention, step[:, None] * self.B, gamma, weights,
                                 [m.bias for m in self.f], mixer, lip_f, certified)

    @staticmethod
    def update(z: Tensor, p: Tensor, c: BlockCoefficients, mix: bool) -> Tensor:
        """One inner step on (B, N, D): A-bar*z + B-bar p + gamma * F(z, p)."""
        y = z
        if mix and c.mixer is not None:
            y = 0.5 * (z + torch.einsum("nm,bmd->bnd", c.mixer, z))  # token mixing, Lip <= 1
        x = torch.cat([y, p], dim=-1)  # (B, N, 2D)
        for i, (w, b) in enumerate(zip(c.weights, c.biases)):
            x = F.linear(x, w, b)
            if i < len(c.weights) - 1:
                x = maxmin(x)
        return c.retention * z + p @ c.injection.T + c.gamma * x


class LoopedCore(nn.Module):
    """Iterates the shared block (or, ablated, an unshared stack) with per-sequence depth and exit."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.shared = cfg.shared or not cfg.looped
        n_blocks = 1 if self.shared else cfg.fixed_depth
        self.blocks = nn.ModuleList(LoopBlock(cfg, cfg.encode_patches) for _ in range(n_blocks))
        self.exit = ExitRule(cfg)

    def coefficients(self, update: bool | None = None) -> list[BlockCoefficients]:
        return [b.coefficients(update) for b in self.blocks]

    def forward(self, p: Tensor, z: Tensor, run: LoopRun, mix: bool = False) -> Tensor:
        """Loop from z^(0) = z under injection p, both (B, N, D); returns z^(T) (B, N, D).

        Depths are right-aligned: sequence b runs loops T - T_b ... T - 1, so the last
        ``grad_loops`` loops are the backprop window of every sequence and earlier ones run
        without grad. Sequences that have not started, or have exited, are frozen by a mask.
        """
        batch, total = z.shape[0], int(run.depth.max())
        start = total - run.depth  # (B,)
        used = torch.zeros(batch, dtype=torch.long, device=z.device)
        done = torch.zeros(batch, dtype=torch.bool, device=z.device)
        state, gate_trace = self.exit.start(batch, z.device), []
        for t in range(total):
            i = 0 if self.shared else t
            no_grad = t < total - run.grad_loops
            active = (t >= start) & ~done  # (B,); outside no_grad so waiting sequences keep their graph
            if no_grad:
                # only the sequences that have started: depths are right-aligned to the deepest draw, so
                # a whole-batch update would cost max(T_b) loops per sequence instead of T_b
                with torch.no_grad():
                    rows = active.nonzero().squeeze(1)
                    z_next = z.detach().clone()
                    if rows.numel():
                        z_next[rows] = self.blocks[i].update(z[rows], p[rows], run.coefficients[i], mix)
            else:
                z_next = self.blocks[i].update(z, p, run.coefficients[i], mix)
            z_prev, z = z, torch.where(active[:, None, None], z_next, z)
            used = used + active.long()
            if run.train_gate:
                gate_trace.append((z_prev.detach(), z.detach(), active))
            if run.early_exit:
                done = done | self.exit.stop(state, z_prev, z, used)
                if bool(done.all()):
                    break
        if run.trace is not None:
            run.trace.loops_used.append(used)
            if gate_trace:
                run.trace.gate_losses.append(self.exit.gate_loss(gate_trace))
        return z
