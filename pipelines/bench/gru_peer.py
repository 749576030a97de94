"""A recurrent world-model peer for the what-if benchmarks: a GRU encoder over the context and a
GRU rollout over the horizon driven by the known-future inputs and the plan's interventions.

It reads the same batches as tsloop (``tsloop/data/batch.py``) and speaks the same output
vocabulary (``quantiles`` (B, H, Ct, Q), ``event_prob`` (B, H, Ce), ``levels``, ``target_rho()``,
``cfg.horizon/target/event/event_rho``), so ``tsloop.model.sampling.sample_paths`` draws its joint
paths with the same Gaussian copula and ``tsloop.forecaster.Forecaster`` answers forecast and
what-if queries with it unchanged: a plan is only a different ``future_control``.

    model = GRUWorldModel(GRUConfig.for_task(task.spec))
    report = train_peer(model, task, PeerTrainConfig(max_steps=1500, seed=0))
    forecaster = Forecaster(model, task.spec, task.scaler)   # .forecast / .whatif as for tsloop

Training is a plain torch loop (AdamW, gradient clipping, a budget of optimizer steps, early stopping
on the validation loss checked 10 times over that budget, best weights restored): the same budget
rules as ``tsloop.train.fit``.
"""

from __future__ import annotations

import copy
import time
from dataclasses import asdict, dataclass

import torch
from torch import Tensor, nn

from tsloop.demo.run import DEMO_STEPS
from tsloop.model.config import DEFAULT_QUANTILES
from tsloop.model.sampling import gaussianize_pit


@dataclass
class GRUConfig:
    """Shape and size of the GRU peer; channel counts come from the task."""

    target: int
    past_exog: int = 0
    known_future: int = 0
    intervention: int = 0
    event: int = 0
    static: int = 0
    context_length: int = 96
    horizon: int = 24
    hidden: int = 64  # GRU state width (tsloop small: d_model 64)
    layers: int = 1  # stacked GRU layers in encoder and rollout
    quantiles: tuple[float, ...] = DEFAULT_QUANTILES  # the same pinball grid as tsloop
    event_rho: float = 0.5  # copula rho of event draws (tsloop's default)
    instance_norm: bool = True  # targets in units of the window's own context (as tsloop's default)

    @classmethod
    def for_task(cls, spec, **overrides) -> "GRUConfig":
        d = spec.dims
        return cls(d.target, d.past_exog, d.known_future, d.intervention, d.event, d.static,
                   spec.context_length, spec.horizon, **overrides)


@dataclass
class PeerOutput:
    quantiles: Tensor  # (B, H, Ct, Q) scaled units, increasing along Q
    event_prob: Tensor  # (B, H, Ce)
    event_logits: Tensor  # (B, H, Ce)


def instance_norm(batch: dict[str, Tensor], on: bool = True) -> tuple[Tensor, Tensor]:
    """Context mean and std of each window's targets (B, 1, Ct), as tsloop's ``normalise``
    (0 and 1 when ``on`` is False)."""
    y, mask = batch["past_target"], batch["past_target_mask"]
    if not on:
        return y.new_zeros(y.shape[0], 1, y.shape[2]), y.new_ones(y.shape[0], 1, y.shape[2])
    count = mask.sum(1, keepdim=True).clamp_min(1.0)
    shift = (y * mask).sum(1, keepdim=True) / count
    scale = ((((y - shift) * mask) ** 2).sum(1, keepdim=True) / count).sqrt().clamp_min(0.1)
    return shift, scale


class GRUWorldModel(nn.Module):
    """encode (GRU over the context) → imagine (GRU over the horizon's drive) → decode (heads)."""

    def __init__(self, cfg: GRUConfig):
        super().__init__()
        self.cfg = cfg
        c = cfg
        past_width = 2 * c.target + c.past_exog + c.known_future + 2 * c.intervention + c.event + c.static
        drive_width = c.known_future + 2 * c.intervention + c.static
        self.encoder = nn.GRU(past_width, c.hidden, c.layers, batch_first=True)
        self.rollout_gru = nn.GRU(max(drive_width, 1), c.hidden, c.layers, batch_first=True)
        self.quantile_head = nn.Linear(c.hidden, c.target * len(c.quantiles))
        self.event_head = nn.Linear(c.hidden, c.event)
        self.register_buffer("levels", torch.tensor(c.quantiles))
        self.register_buffer("rho", torch.zeros(c.target))  # set from validation PITs after training

    def target_rho(self) -> Tensor:
        """AR(1) copula rho per target channel (Ct,), as ``WorldModel.target_rho``."""
        return self.rho

    def encode(self, batch: dict[str, Tensor], y: Tensor) -> Tensor:
        """Context (B, L, ·) → state (layers, B, D)."""
        B, L = y.shape[:2]
        static = batch["static"][:, None].expand(B, L, -1)
        x = torch.cat([y, batch["past_target_mask"], batch["past_exog"], batch["past_known"],
                       batch["past_control"], batch["past_control_mask"], batch["past_event"], static], dim=-1)
        return self.encoder(x)[1]

    def imagine(self, h0: Tensor, batch: dict[str, Tensor]) -> Tensor:
        """Roll the state over the horizon under the known-future inputs and the plan: (B, H, D)."""
        B, H = batch["future_known"].shape[:2]
        static = batch["static"][:, None].expand(B, H, -1)
        drive = torch.cat([batch["future_known"], batch["future_control"], batch["future_control_mask"], static], -1)
        if drive.shape[-1] == 0:
            drive = drive.new_zeros(B, H, 1)
        return self.rollout_gru(drive, h0)[0]

    def decode(self, h: Tensor) -> tuple[Tensor, Tensor]:
        """States (B, H, D) → increasing quantiles (B, H, Ct, Q) and event logits (B, H, Ce)."""
        B, H = h.shape[:2]
        raw = self.quantile_head(h).view(B, H, self.cfg.target, -1)  # (B, H, Ct, Q)
        mid = len(self.cfg.quantiles) // 2
        steps = nn.functional.softplus(raw[..., 1:]) + 1e-4
        up = torch.cumsum(steps[..., mid:], -1)
        down = torch.cumsum(steps[..., :mid].flip(-1), -1).flip(-1)
        centre = raw[..., mid : mid + 1]
        return torch.cat([centre - down, centre, centre + up], -1), self.event_head(h)

    def forward(self, batch: dict[str, Tensor]) -> PeerOutput:
        """Forecast the horizon under the batch's future inputs (scaled units)."""
        shift, scale = instance_norm(batch, self.cfg.instance_norm)  # (B, 1, Ct)
        y = (batch["past_target"] - shift) / scale * batch["past_target_mask"]
        q, logits = self.decode(self.imagine(self.encode(batch, y), batch))
        q = q * scale[..., None] + shift[..., None]  # back from instance units
        return PeerOutput(q, torch.sigmoid(logits), logits)

    def loss(self, batch: dict[str, Tensor]) -> Tensor:
        """Pinball loss over the grid (in instance units) + event BCE."""
        out = self.forward(batch)
        _, scale = instance_norm(batch, self.cfg.instance_norm)
        err = (batch["future_target"][..., None] - out.quantiles) / scale[..., None]  # (B, H, Ct, Q)
        pinball = torch.maximum(self.levels * err, (self.levels - 1) * err)
        mask = batch["future_target_mask"][..., None]
        loss = 2 * (pinball * mask).sum() / (mask.sum() * len(self.cfg.quantiles)).clamp_min(1)
        if self.cfg.event:
            loss = loss + nn.functional.binary_cross_entropy_with_logits(out.event_logits, batch["future_event"])
        return loss


@dataclass
class PeerTrainConfig:
    """The budget every trained peer gets: the same step budget and early-stopping rule as tsloop's runs."""

    max_steps: int | None = DEMO_STEPS  # optimizer-step budget (tsloop's TrainConfig.max_steps); None = epochs only
    max_time_s: float | None = None  # wall-clock cap on training; None = none (results then do not depend on load)
    max_epochs: int = 1000
    limit_train_batches: int = 10_000  # per epoch
    limit_val_batches: int = 10_000
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 1e-2
    grad_clip: float = 1.0
    patience: int = 5  # validation checks without a better validation loss
    stride: int = 2  # step between training and validation windows
    seed: int = 0

    def validation_every(self, batches_per_epoch: int) -> int | None:
        """Optimizer steps between validation checks, or None for each epoch end: tsloop's rule
        (``TrainConfig.validation_interval``): 10 checks over a step budget that ends before the epochs do."""
        if not self.max_steps or self.max_epochs * min(batches_per_epoch, self.limit_train_batches) <= self.max_steps:
            return None
        return -(-self.max_steps // 10)


def _loader(task, part: str, cfg: PeerTrainConfig, shuffle: bool):
    generator = torch.Generator().manual_seed(cfg.seed)
    return torch.utils.data.DataLoader(task.dataset(part, stride=cfg.stride), batch_size=cfg.batch_size,
                                       shuffle=shuffle, generator=generator)


def _validate(model: nn.Module, loader, limit: int) -> float:
    model.eval()
    total, n = 0.0, 0
    with torch.no_grad():
        for i, batch in enumerate(loader):
            if i >= limit:
                break
            total, n = total + float(model.loss(batch)), n + 1
    model.train()
    return total / max(n, 1)


def train_peer(model: nn.Module, task, cfg: PeerTrainConfig) -> dict:
    """Train for ``cfg.max_steps`` optimizer steps with early stopping on the validation loss (and the
    optional wall-clock cap); restore the best weights, then fit the copula rho from validation PITs.
    Returns the budget actually used."""
    torch.manual_seed(cfg.seed)
    train, val = _loader(task, "train", cfg, True), _loader(task, "val", cfg, False)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    every = cfg.validation_every(len(train))
    start, steps, checked, stale, stopped = time.perf_counter(), 0, -1, 0, "max_epochs"
    best = (float("inf"), copy.deepcopy(model.state_dict()), 0)

    def check() -> bool:
        """Validate now; True when patience has run out."""
        nonlocal best, stale, checked
        val_loss, checked = _validate(model, val, cfg.limit_val_batches), steps
        if val_loss < best[0]:
            best, stale = (val_loss, copy.deepcopy(model.state_dict()), steps), 0
        else:
            stale += 1
        return stale >= cfg.patience

    model.train()
    for _ in range(cfg.max_epochs):
        for i, batch in enumerate(train):
            if i >= cfg.limit_train_batches:
                break
            if cfg.max_time_s is not None and time.perf_counter() - start > cfg.max_time_s:
                stopped = "time"
                break
            loss = model.loss(batch)
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            opt.step()
            steps += 1
            if every and steps % every == 0 and check():
                stopped = "patience"
                break
            if cfg.max_steps and steps >= cfg.max_steps:
                stopped = "steps"
                break
        if stopped == "max_epochs" and every is None and check():
            stopped = "patience"
        if stopped != "max_epochs":
            break
    if checked != steps:  # the last weights are a candidate too
        check()
    model.load_state_dict(best[1])
    model.rho.copy_(fit_copula_rho(model, val, cfg.limit_val_batches))
    model.eval()
    return {"train_s": time.perf_counter() - start, "steps": steps, "epochs": steps / len(train), "best_step": best[2],
            "best_val_loss": best[0], "stopped": stopped, "budget": asdict(cfg)}


def fit_copula_rho(model: nn.Module, loader, limit: int) -> Tensor:
    """Lag-1 correlation of the Gaussianised PITs of validation targets, per target channel (Ct,).

    tsloop learns the same rho through its copula likelihood; a peer fitted on quantiles alone
    gets it after training, from held-out windows.
    """
    xs, ms = [], []
    model.eval()
    with torch.no_grad():
        for i, batch in enumerate(loader):
            if i >= limit:
                break
            q = model(batch).quantiles
            xs.append(gaussianize_pit(q, model.levels, batch["future_target"]))  # (B, H, Ct)
            ms.append(batch["future_target_mask"])
    x, m = torch.cat(xs), torch.cat(ms)
    pair = m[:, 1:] * m[:, :-1]
    a, b = x[:, 1:], x[:, :-1]
    rho = (a * b * pair).sum((0, 1)) / ((a.pow(2) * pair).sum((0, 1)) * (b.pow(2) * pair).sum((0, 1))).sqrt().clamp_min(1e-8)
    return rho.clamp(-0.99, 0.99)

