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

Two rollouts (``ModelConfig.rollout``):

* ``open_loop``: the horizon is imagined once under the plan, and every path is drawn from its
  marginals. Trained on logged plans, this reads the operator's later moves as causes (the
  operator scaled out *because* load rose): a biased what-if under a reacting operator.
* ``gcomp`` (G-computation, Robins' g-formula as G-Net samples it): each path steps one patch at
  a time from its own state, draws that patch's values from the one-step conditional, observes
  them (the observed-step regime the one-step loss trains) and steps on (with ``prior_obs``, the
  step into patch k also injects the path's draw of patch k-1, as that loss trains it). Every conditional is
  given the full simulated history, so the effect of a plan is identified under sequential
  ignorability (the operator reacted only to what the history shows). With ``propensity_input``
  each step's drive also carries the policy head's median controls given the path's last patch,
  as the one-step loss trains it.

With ``control_members`` M > 1, path s uses the control member s mod M (a bootstrap ensemble of
the control pathway), so the spread of an effect over paths includes the model's estimation
error, not only the noise that common random numbers cancel. With a policy head (policy.py),
each path also scores the plan's controls against the learned logging policy, given what the
operator would have seen on that path before each patch: ``control_support`` is their two-sided
tail probability (calibrated on the validation part's logged controls when the head is, policy.py),
averaged over paths (overlap).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

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
    control_support: Tensor | None = None  # (B, H, Ci) mean over paths of the plan's two-sided tail probability under the policy


def interpolate_quantiles(quantiles: Tensor, levels: Tensor, u: Tensor) -> Tensor:
    """Quantile function at u: knots (..., Q) or per path (S, ..., Q) at levels (Q,), u (S, ...) in
    [0, 1] -> (S, ...)."""
    q = quantiles if quantiles.dim() == u.dim() + 1 else quantiles.unsqueeze(0)
    q = q.expand(*u.shape, levels.numel())
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


def tail_probability(quantiles: Tensor, levels: Tensor, x: Tensor) -> Tensor:
    """Two-sided tail probability 2 min(F(x), 1 - F(x)) of x under the interpolated CDF whose
    knots are quantiles (..., Q): (...) in [0, 1]. Beyond the outer knots F is extended linearly
    (as the sampler extends the quantile function) and clipped, so a value far outside scores 0."""
    return tail_score(quantiles, levels, x).clamp(0, 1)


def tail_score(quantiles: Tensor, levels: Tensor, x: Tensor) -> Tensor:
    """``tail_probability`` before clipping: the same inside the range where the extended F is in
    [0, 1], negative beyond it and falling with the distance (in units of the outer segment), so
    values outside the quantiles keep their order (the policy head's calibration ranks them)."""
    n = levels.numel()
    right = (quantiles <= x.unsqueeze(-1)).sum(-1).clamp(1, n - 1)
    lo = quantiles.gather(-1, (right - 1).unsqueeze(-1)).squeeze(-1)
    hi = quantiles.gather(-1, right.unsqueeze(-1)).squeeze(-1)
    u = levels[right - 1] + (x - lo) / (hi - lo).clamp_min(1e-12) * (levels[right] - levels[right - 1])
    return 2 * torch.minimum(u, 1 - u)


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
        rho = torch.cat([model.target_rho(), ref.new_full((cfg.event,), cfg.event_rho)])
        u = torch.special.ndtr(ar1(noise, rho))  # (S, B, H, Ct + Ce) uniform marginals
        rollout = _gcomp if getattr(cfg, "rollout", "open_loop") == "gcomp" else _open_loop
        target, event, event_prob = rollout(model, batch, u)
        support = _support(model, batch, target, event) if getattr(model, "policy", None) is not None else None
        levels = model.levels.to(target.dtype)
        quantiles = torch.quantile(target, levels, dim=0).permute(1, 2, 3, 0)  # (B, H, Ct, Q) of the paths
    return SamplePaths(target, event, event_prob, quantiles, noise, support)


def _members(model: nn.Module, num_samples: int, batch_size: int, device) -> Tensor:
    """Control member of every path and series (S, B): s mod M."""
    m = getattr(model.cfg, "control_members", 1)  # peers that borrow this sampler have one
    return (torch.arange(num_samples, device=device) % m)[:, None].expand(num_samples, batch_size)


def _open_loop(model: nn.Module, batch: dict[str, Tensor], u: Tensor):
    """Every path from the marginals of one imagined rollout per control member."""
    cfg, s, b = model.cfg, u.shape[0], u.shape[1]
    member = _members(model, s, b, u.device)
    members = getattr(cfg, "control_members", 1)
    outs = [model(dict(batch, member=member[m].contiguous())) if members > 1 else model(batch)
            for m in range(min(members, s))]
    quantiles = torch.stack([o.quantiles for o in outs])[member[:, 0]]  # (S, B, H, Ct, Q)
    prob = torch.stack([o.event_prob for o in outs])[member[:, 0]]  # (S, B, H, Ce)
    target = interpolate_quantiles(quantiles, model.levels, u[..., :cfg.target])
    event = (u[..., cfg.target:] < prob).to(u.dtype)
    return target, event, prob.mean(0)


def _gcomp(model: nn.Module, batch: dict[str, Tensor], u: Tensor):
    """G-computation: each path draws patch k from the one-step conditional at its own state,
    observes the draw and steps on (module docstring)."""
    s, b = u.shape[:2]
    normed, shift, scale = model.normalise(batch)
    rows = {key: value.repeat_interleave(s, 0) if key != "member" else value
            for key, value in normed.items() if torch.is_tensor(value) and value.shape[:1] == (b,)}
    rows["member"] = _members(model, s, b, u.device).T.reshape(-1)  # row = b * S + s
    run = model.new_run(b * s)
    h = model.encode(rows, run)  # (B*S, D)
    uu = u.transpose(0, 1).reshape(b * s, *u.shape[2:])  # (B*S, H, C) in the rows' order
    target, event, prob = gcomp_from(model, rows, h, uu, run)
    unflat = lambda x: x.view(b, s, *x.shape[1:]).transpose(0, 1)  # (B*S, ...) -> (S, B, ...)
    target = unflat(target) * scale + shift  # back from instance units
    return target, unflat(event), unflat(prob).mean(0)


def gcomp_from(model: nn.Module, rows: dict[str, Tensor], h: Tensor, u: Tensor, run=None):
    """The G-computation rollout of ``_gcomp`` from given context states.

    ``rows``: a normalised batch (``model.normalise``) of N rows, one per path; ``h`` (N, D)
    their encoded context states (rows that share a context may share one ``encode``); ``u``
    (N, H, Ct + Ce) uniform draws (0.5 everywhere: the path that draws each step's median and
    observes it). Returns targets (N, H, Ct) in instance units, events (N, H, Ce) and event
    probabilities (N, H, Ce)."""
    cfg, p = model.cfg, model.cfg.patch_len
    run = run or model.new_run(h.shape[0])
    drive = model.drive_embed.future(rows)  # (N, K, D)
    linear = model.linear_path(rows) if model.linear_path is not None else None  # (N, H, Ct)
    targets, events, probs = [], [], []
    # under prior_obs each prior step injects the path's previous observation, as the one-step loss trains it
    prior_obs = getattr(cfg, "prior_obs", False)
    seen = model.last_context_obs(rows)[:, 0] if prior_obs else None  # (N, D)
    # under propensity_input each step's drive also carries the policy's median controls, given the path's last patch
    propensity = getattr(model, "propensity_embed", None) is not None
    if propensity:
        known = model.drive_embed.exogenous(rows)  # (N, K, D)
        before = model.last_context_obs(rows)[:, 0]  # (N, D)
    for k in range(drive.shape[1]):
        drive_k = drive[:, k]
        if propensity:
            drive_k = drive_k + model.propensity_drive(before[:, None], known[:, k:k + 1])[:, 0]
        prior = model.step(h, drive_k, seen, run)
        q, logits = model.decode(prior[:, None])  # (N, P, Ct, Q), (N, P, Ce)
        span = slice(k * p, min((k + 1) * p, cfg.horizon))
        n = span.stop - span.start
        q, logits = q[:, :n], logits[:, :n]
        if linear is not None:
            q = q + linear[:, span, :, None]
        y = interpolate_quantiles(q, model.levels, u[None, :, span, :cfg.target])[0]  # (N, n, Ct)
        prob = torch.sigmoid(logits)
        event = (u[:, span, cfg.target:] < prob).to(u.dtype)
        targets.append(y), events.append(event), probs.append(prob)
        if k + 1 < drive.shape[1]:  # observe the drawn patch: the observed-step regime
            e = model.obs_embed(y, torch.ones_like(y), event, False)[:, 0]
            h = model.step(h, drive_k, e, run)
            if prior_obs:
                seen = e
            if propensity:
                before = e
    return torch.cat(targets, 1), torch.cat(events, 1), torch.cat(probs, 1)


def _support(model: nn.Module, batch: dict[str, Tensor], target: Tensor, event: Tensor) -> Tensor:
    """Mean over paths of the plan's two-sided tail probability under the policy head, given what
    each path shows before each patch: paths (S, B, H, Ct) scaled units, (S, B, H, Ce) -> (B, H, Ci)."""
    s, b = target.shape[:2]
    normed, shift, scale = model.normalise(batch)
    rows = {key: value.repeat(s, *[1] * (value.dim() - 1))  # row s * B + b
            for key, value in normed.items() if torch.is_tensor(value) and value.shape[:1] == (b,)}
    seen = ((target - shift) / scale).flatten(0, 1)  # instance units, as the model observes
    q = model.policy_quantiles(rows, seen, event.flatten(0, 1))  # (S*B, H, Ci, Q)
    plan = rows["future_control"][:, : model.cfg.horizon]
    u = model.policy.support(q, model.levels, plan)  # p-values when the head is calibrated (policy.py)
    return u.view(s, b, *plan.shape[1:]).mean(0)
