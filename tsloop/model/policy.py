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

A quantile head is not calibrated in its far tails, and a support score built from raw tail
probabilities is then no p-value: on suite 4's plant (confounding 0, seed 1, at its what-if
origins), 6.5 % of the operator's own logged control steps had a raw tail probability below 0.05,
15 % on the cooling setpoint, and with the step minimum of overlap.py its logged plans were
flagged in 19 % of (origin, cluster) pairs. So after training
the tail probabilities are calibrated on the validation part (split conformal): for each
control channel, the empirical CDF F_c of the raw tail probabilities of the logged controls
there, given what the operator had seen (the inputs the head trains on), over n_c steps. The
tail probability is taken before clipping (``tail_score``: negative beyond the head's outer
quantiles, falling with the distance), because a head that is too sharp puts many of the
operator's own choices beyond them: clipped at 0, "far outside" could not be told from "just
outside". A score u then becomes (1 + n_c F_c(u)) / (n_c + 1), the share of the operator's own
choices at least as far out (``PolicyHead.calibrated``): a valid p-value for a control drawn
from the operator's policy, in so far as the validation steps are exchangeable with the query's.
It is never below 1 / (n_c + 1): a finite log cannot say more. F_c is kept at the scores of
``CALIBRATION_GRID`` and read at the grid point at or above u (conservative).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from tsloop.model.config import ModelConfig
from tsloop.model.heads import QuantileHead
from tsloop.model.sampling import evaluation, tail_probability, tail_score

# tail scores (``tail_score``) at which a calibrated head keeps the CDF of its logged controls' scores:
# beyond the quantiles -10^4 .. -10^-3, then 0 and 10^-6 .. 1
CALIBRATION_GRID = torch.cat([-torch.logspace(4, -3, 57, dtype=torch.float64), torch.zeros(1, dtype=torch.float64),
                              torch.logspace(-6, 0, 121, dtype=torch.float64)]).float()


class PolicyHead(nn.Module):
    """(observation of patch k-1 (..., K, D), known drive of patch k (..., K, D)) -> control
    quantiles (..., K*P, Ci, Q) of patch k."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        d = cfg.d_model
        self.body = nn.Sequential(nn.Linear(2 * d, cfg.coda_hidden), nn.GELU(), nn.Linear(cfg.coda_hidden, d))
        self.head = QuantileHead(d, cfg.patch_len, cfg.intervention, cfg.quantiles)
        # calibration (module docstring): (Ci, G) CDF at CALIBRATION_GRID and (Ci,) steps; empty = not calibrated.
        # Not in the state dict: it travels in the model file's meta ("policy_calibration"), so older files load as before
        self.register_buffer("cal_cdf", torch.zeros(0), persistent=False)
        self.register_buffer("cal_count", torch.zeros(0), persistent=False)

    def forward(self, seen: Tensor, known: Tensor) -> Tensor:
        return self.head(self.body(torch.cat([seen, known], dim=-1)))

    @property
    def is_calibrated(self) -> bool:
        return self.cal_cdf.numel() > 0

    def set_calibration(self, calibration: dict | None) -> None:
        """Adopt a calibration (``calibrate``'s ``as_meta()`` form: ``cdf`` (Ci, G) and ``count`` (Ci,)
        lists); None leaves the head uncalibrated."""
        if calibration is None:
            self.cal_cdf, self.cal_count = torch.zeros(0), torch.zeros(0)
            return
        cdf = torch.as_tensor(calibration["cdf"], dtype=torch.float32)
        count = torch.as_tensor(calibration["count"], dtype=torch.float32)
        if cdf.shape != (count.numel(), CALIBRATION_GRID.numel()):
            raise ValueError(f"a policy calibration of shape {tuple(cdf.shape)} does not fit "
                             f"{count.numel()} controls and a grid of {CALIBRATION_GRID.numel()}")
        self.cal_cdf, self.cal_count = cdf.to(self.cal_cdf.device), count.to(self.cal_cdf.device)

    def support(self, quantiles: Tensor, levels: Tensor, x: Tensor) -> Tensor:
        """Controls ``x`` (..., Ci) under this head's quantiles (..., Ci, Q): calibrated p-values, or
        the raw two-sided tail probabilities of an uncalibrated head (files from before calibration)."""
        if not self.is_calibrated:
            return tail_probability(quantiles, levels, x)
        return self.calibrated(tail_score(quantiles, levels, x))

    def calibrated(self, u: Tensor) -> Tensor:
        """Tail scores (``tail_score``, (..., Ci)) -> calibrated p-values (..., Ci); an uncalibrated
        head, or a channel no validation step set, gives the score clipped to [0, 1]."""
        if not self.is_calibrated:
            return u.clamp(0, 1)
        grid = CALIBRATION_GRID.to(u)
        j = torch.searchsorted(grid, u.contiguous().clamp(max=1)).clamp(max=grid.numel() - 1)  # grid point >= u
        channel = torch.arange(u.shape[-1], device=u.device)
        n = self.cal_count.to(u)
        p = (1 + n * self.cal_cdf.to(u)[channel, j]) / (n + 1)
        return torch.where(n > 0, p, u.clamp(0, 1))


@dataclass
class Calibration:
    """The validation part's logged controls under the policy head: per channel the steps counted,
    the CDF of their tail scores at ``CALIBRATION_GRID`` and the share of raw tail probabilities
    below 0.05 (0.05 for a calibrated head: the head's own miscalibration, reported)."""

    cdf: list[list[float]]
    count: list[int]
    raw_below_005: list[float]

    def as_meta(self) -> dict:
        return {"cdf": self.cdf, "count": self.count, "raw_below_005": self.raw_below_005}


def calibrate(model: nn.Module, batches: Iterable[dict[str, Tensor]]) -> Calibration | None:
    """Calibrate ``model.policy`` on the logged controls of ``batches`` (the validation part's
    windows; module docstring) and adopt it; None for a model without a policy head. The head sees
    the observed horizon before each patch, as in training."""
    if getattr(model, "policy", None) is None:
        return None
    ci, horizon = model.cfg.intervention, model.cfg.horizon
    tails: list[list[Tensor]] = [[] for _ in range(ci)]
    # on a forked RNG (a DataLoader draws its base seed): what runs after draws as it would without calibration
    with torch.random.fork_rng(devices=[]), evaluation(model):
        for batch in batches:
            batch = model.normalise(batch)[0]
            q = model.policy(*policy_inputs(model, batch, batch["future_target"], batch["future_event"],
                                            batch["future_target_mask"]))[:, :horizon]
            u = tail_score(q, model.levels, batch["future_control"][:, :horizon])  # (B, H, Ci)
            mask = batch["future_control_mask"][:, :horizon] > 0
            for c in range(ci):
                tails[c].append(u[..., c][mask[..., c] & torch.isfinite(u[..., c])])
    grid = CALIBRATION_GRID.double()
    cdf, count, below = [], [], []
    for c in range(ci):
        u = torch.cat(tails[c]).double() if tails[c] else torch.zeros(0, dtype=torch.float64)
        count.append(int(u.numel()))
        below_grid = torch.searchsorted(u.sort().values, grid, right=True)  # logged scores <= each grid point
        cdf.append((below_grid.double() / u.numel() if u.numel() else torch.zeros_like(grid)).tolist())
        below.append(float((u < 0.05).double().mean()) if u.numel() else float("nan"))
    calibration = Calibration(cdf, count, below)
    model.policy.set_calibration(calibration.as_meta())
    return calibration


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
