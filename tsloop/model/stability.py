"""Lipschitz building blocks and the stability certificate of the inner loop.

The inner step z <- A-bar * z + B-bar p + gamma * F(z, p) is Lipschitz in z with constant
at most max(A-bar) + gamma * Lip(F) (design note, "bound the whole step"). F is built from
spectral-normalised linear maps and the 1-Lipschitz MaxMin activation, with no normalisation
inside it, so Lip(F) is bounded by the product of its weights' spectral norms; those norms are
computed exactly (SVD of small matrices) so the certificate does not rest on the power
iteration that normalises the weights. The estimates here use power iteration on the
Jacobian (JVP then VJP) and can only under-estimate the true largest singular value.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor, nn


def maxmin(x: Tensor) -> Tensor:
    """MaxMin (GroupSort-2) activation: 1-Lipschitz, norm-preserving, maxmin(0) = 0."""
    a, b = x.chunk(2, dim=-1)
    return torch.cat([torch.maximum(a, b), torch.minimum(a, b)], dim=-1)


class SpectralLinear(nn.Module):
    """Linear map whose weight is divided by its spectral norm, tracked by power iteration.

    One power-iteration step runs per call of ``normalised_weight()`` in training mode; in
    eval mode the stored vectors are used as they are, so predictions are deterministic and
    survive save -> load. ``normalise=False`` (the unconstrained ablation) leaves W free.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, normalise: bool = True):
        super().__init__()
        self.normalise = normalise
        self.weight = nn.Parameter(torch.empty(out_features, in_features))
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))  # nn.Linear's default
        self.bias = nn.Parameter(torch.zeros(out_features)) if bias else None
        self.register_buffer("u", nn.functional.normalize(torch.randn(out_features), dim=0))
        self.register_buffer("v", nn.functional.normalize(torch.randn(in_features), dim=0))
        with torch.no_grad():
            self.power_iteration(20)

    @torch.no_grad()
    def power_iteration(self, steps: int) -> None:
        for _ in range(steps):
            self.v.copy_(nn.functional.normalize(self.weight.T @ self.u, dim=0, eps=1e-12))
            self.u.copy_(nn.functional.normalize(self.weight @ self.v, dim=0, eps=1e-12))

    def normalised_weight(self, update: bool | None = None) -> Tensor:
        """W / sigma-hat (out, in); one power-iteration step first when training (or ``update``)."""
        if not self.normalise:
            return self.weight
        if self.training if update is None else update:
            self.power_iteration(1)
        sigma = torch.dot(self.u, self.weight @ self.v).abs().clamp_min(1e-6)
        return self.weight / sigma

    def forward(self, x: Tensor) -> Tensor:
        return nn.functional.linear(x, self.normalised_weight(), self.bias)


def spectral_norm_exact(weight: Tensor) -> float:
    """Largest singular value of a (small) matrix, exactly (SVD), without grad."""
    if weight.numel() == 0:
        return 0.0
    # float32 SVD (every backend has it); the relative error ~1e-6 is covered by a 1e-5 margin
    return float(torch.linalg.matrix_norm(weight.detach().float(), ord=2)) * (1 + 1e-5)


def certified_bound(model: nn.Module) -> float:
    """Certified Lipschitz bound (in z) of one inner step, max over the core's blocks."""
    with torch.no_grad():
        coefs = model.core.coefficients(update=False)
    return max(c.certified for c in coefs)


def outer_bound(model: nn.Module) -> float:
    """Certified Lipschitz bound of one whole outer step h_{k-1} -> h_k, its input held fixed.

    The injection p_k = Norm(P([e_k; u_k])) does not read h_{k-1}; the state enters only as the
    warm start z^(0) = h_{k-1}, and each of the T >= 1 inner steps is L-Lipschitz in z (L the
    inner certificate, < kappa < 1), so z^(T) is L^T <= L Lipschitz in h_{k-1}. With outer
    retention, h_k = lambda h_{k-1} + (1 - lambda) z^(T) is at most lambda + (1 - lambda) L < 1.
    An unshared stack multiplies its blocks' bounds (bounded by the largest). So an error in the
    state never grows from one outer step to the next, over any horizon.
    """
    cfg = model.cfg
    with torch.no_grad():
        coefs = model.core.coefficients(update=False)
        inner = max(c.certified for c in coefs)
        lam = float(model.outer_lambda()) if cfg.outer_retention > 0 else 0.0
    return lam + (1 - lam) * inner


def state_bound(model: nn.Module) -> float:
    """Radius R with ||h_k|| <= max(||h_0||, R) for every rollout step, and -> R as k grows.

    One inner step obeys ||z'|| <= L ||z|| + c with L the certified bound and
    c = ||B-bar|| P_max + gamma ||F(0, p)||_max, where the prelude's LayerNorm caps the injected
    signal at P_max = max|g| sqrt(D) + ||b||. Since z starts from h_{k-1} (warm start) and
    h_k = z^(T), the state stays in the ball of radius max(||h_0||, c / (1 - L)).
    Infinite when the step is not a contraction (unconstrained ablation).
    """
    norm = model.prelude.norm
    d = norm.normalized_shape[0]
    p_max = float(norm.weight.detach().abs().max()) * math.sqrt(d) + float(norm.bias.detach().norm())
    rate, drive = 0.0, 0.0  # worst block of an unshared stack: max L and max c
    with torch.no_grad():
        for c in model.core.coefficients(update=False):
            s = p_max  # bound on ||F's activations|| at z = 0, layer by layer
            for i, (w, b) in enumerate(zip(c.weights, c.biases)):
                w_eff = w[:, -d:] if i == 0 else w  # first layer sees [mix(z); p]; z = 0
                s = spectral_norm_exact(w_eff) * s + float(b.norm())
            rate = max(rate, c.certified)
            drive = max(drive, spectral_norm_exact(c.injection) * p_max + float(c.gamma.abs()) * s)
    return drive / (1 - rate) if rate < 1 else math.inf


@torch.no_grad()
def power_sigma(fn: Callable[[Tensor], Tensor], x: Tensor, iters: int = 8, seed: int = 0) -> float:
    """Largest singular value of the Jacobian of ``fn`` at x, max over the batch dim.

    ``fn`` maps (B, ...) -> (B, ...) with samples independent, so J is block-diagonal and
    power iteration on J^T J with a per-sample unit vector gives each sample's sigma_max.
    """
    from torch.func import jvp, vjp  # local: only needed by diagnostics

    gen = torch.Generator().manual_seed(seed)
    v = torch.randn(x.shape, generator=gen, dtype=x.dtype).to(x.device)
    flat = lambda t: t.reshape(t.shape[0], -1)  # noqa: E731  (B, n)
    unit = lambda t: t / flat(t).norm(dim=1).clamp_min(1e-12).view(-1, *[1] * (t.dim() - 1))  # noqa: E731
    v = unit(v)
    _, pullback = vjp(fn, x)
    sigma = x.new_zeros(x.shape[0])
    for _ in range(iters):
        _, jv = jvp(fn, (x,), (v,))  # J v
        sigma = flat(jv).norm(dim=1)
        (jtjv,) = pullback(jv)  # J^T J v
        v = unit(jtjv)
    _, jv = jvp(fn, (x,), (v,))
    sigma = torch.maximum(sigma, flat(jv).norm(dim=1))
    return float(sigma.max())


def estimate_lipschitz(model: nn.Module, batch: dict[str, Tensor], iters: int = 8) -> dict[str, float]:
    """Power-iteration sigma_max of the inner step dz_{t+1}/dz_t and the outer step dh_k/dh_{k-1}."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            return model.lipschitz_probes(batch, iters)
    finally:
        model.train(was_training)


def lipschitz_probes(model: nn.Module, batch: dict[str, Tensor], iters: int = 8) -> dict[str, float]:
    """sigma_max of the inner step (context tokens and first rollout step) and of one outer step."""
    cfg = model.cfg
    batch = model.normalise(batch)[0]  # the drive of a level_input model reads the context's level
    run = model.new_run(batch["past_target"].shape[0], depth=cfg.fixed_depth)  # every loop differentiable
    pairs = list(zip(model.core.blocks, run.coefficients))
    e, u = model.context_inputs(batch)
    n = cfg.encode_patches
    p_tok = model.token_injection(e[:, :n], u[:, :n])  # (B, n, D)
    z_tok = model.core(p_tok, torch.zeros_like(p_tok), run, mix=True)
    h0 = model.encode(batch, run)
    u1 = model.drive_embed.future(batch)[:, 0]  # (B, D)
    p1 = model.prelude(model.null_obs.expand_as(h0), u1)[:, None]  # (B, 1, D)
    z1 = model.core(p1, h0[:, None], run)
    inner = 0.0
    for block, c in pairs:
        inner = max(inner, power_sigma(lambda z: block.update(z, p_tok, c, True), z_tok, iters),
                    power_sigma(lambda z: block.update(z, p1, c, False), z1, iters))
    outer = power_sigma(lambda h: model.step(h, u1, None, run), h0, iters)
    return {"inner": inner, "outer": outer}


def diagnostics(model: nn.Module, batch: dict[str, Tensor]) -> dict[str, float]:
    """A-bar range, gamma, certified and estimated Lipschitz numbers, loops used, latent norms."""
    from tsloop.model.sampling import evaluation  # local: sampling is a sibling, not a dependency

    with evaluation(model):
        coefs = model.core.coefficients(update=False)
        out = model(batch)
    retention = torch.cat([c.retention.detach().flatten() for c in coefs])
    norms = out.latents.norm(dim=-1)  # (B, K + 1)
    lip = estimate_lipschitz(model, batch)
    return {
        "retention_min": float(retention.min()),
        "retention_max": float(retention.max()),
        "gamma": max(float(c.gamma) for c in coefs),
        "certified_bound": max(c.certified for c in coefs),
        "certified_outer": outer_bound(model),
        "sigma_inner": lip["inner"],
        "sigma_outer": lip["outer"],
        "loops_mean": out.loops_used,
        "latent_norm_mean": float(norms.mean()),
        "latent_norm_max": float(norms.max()),
    }
