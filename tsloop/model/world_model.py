"""The looped latent world model: named verbs, forecast forward pass, and its own loss.

Outer loop (time): the context is cut into patch tokens, embedded, and looped by the shared
block all at once (tokens mix inside F), then pooled into a state. Time then advances one patch
per outer step: p_k = Norm(P([e_k; u_k])) with u_k the patch's exogenous and intervention
inputs and e_k its observation, or a learned null embedding when there is none.
The last ``filter_patches`` context patches are assimilated this way (observed steps, with
observation dropout), giving h_0; the future is imagined (e_k = null, the regime of every
forecast and what-if). Each step loops the same block from z = h_{k-1} and
h_k = lambda h_{k-1} + (1 - lambda) z^(T) (outer retention), a certified contraction in h_{k-1}
(``stability.outer_bound``); the coda and heads decode h_k into its patch of steps, and the
linear path (``linear_path.py``) adds a linear forecast from the context and known inputs. Teacher forcing (future observations
injected) uses the observed-step regime the filtered context patches train.

Example (a zero batch of the batch contract; real ones come from ``task.dataset``)::

    >>> import torch
    >>> from tsloop.data.batch import ChannelDims, empty_batch
    >>> dims = ChannelDims(target=2, known_future=1, intervention=1)
    >>> model = WorldModel(ModelConfig.preset("tiny", dims=dims, context_length=16, horizon=8))
    >>> batch = empty_batch(dims, batch=3, context=16, horizon=8)
    >>> loss, logs = model.loss(batch, step=0)          # training
    >>> loss.backward()
    >>> model = model.eval()
    >>> h0 = model.encode(batch)                        # (B, D)
    >>> model.imagine(h0, batch).shape                  # (B, K, D): K = horizon / patch_len
    torch.Size([3, 2, 16])
    >>> model(batch).quantiles.shape                    # (B, H, Ct, Q)
    torch.Size([3, 8, 2, 7])
    >>> noise = torch.randn(100, 3, 8, 2)               # (S, B, H, Ct + Ce)
    >>> plan_b = dict(batch, future_control=torch.ones(3, 8, 1))
    >>> a = model.sample_paths(batch, 100, noise=noise)
    >>> b = model.sample_paths(plan_b, 100, noise=noise)  # same noise for two plans = CRN
    >>> a.target.shape                                  # (S, B, H, Ct)
    torch.Size([100, 3, 8, 2])
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from tsloop.model import losses, stability
from tsloop.model.config import OUTER_RETENTION_CAP, ModelConfig
from tsloop.model.core import LoopedCore, LoopRun
from tsloop.model.embed import DriveEmbed, ObservationEmbed, Prelude
from tsloop.model.heads import Coda, EventHead, QuantileHead
from tsloop.model.linear_path import LinearPath
from tsloop.model.policy import PolicyHead, policy_inputs
from tsloop.model.sampling import SamplePaths, interpolate_quantiles, sample_paths


@dataclass
class ModelOutput:
    """A forecast: marginal quantiles and event probabilities per step, and the latents."""

    quantiles: Tensor  # (B, H, Ct, Q) scaled units, increasing along Q
    event_prob: Tensor  # (B, H, Ce)
    event_logits: Tensor  # (B, H, Ce)
    latents: Tensor  # (B, K + 1, D): h_0 and the K imagined outer steps
    loops_used: float  # mean inner loops per sequence and core call


class WorldModel(nn.Module):
    """Looped latent world model of multivariate telemetry (see the module docstring)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        d = cfg.d_model
        self.obs_embed = ObservationEmbed(cfg)
        self.target_obs_embed = copy.deepcopy(self.obs_embed).requires_grad_(False)  # EMA target E'
        self.drive_embed = DriveEmbed(cfg)
        self.null_obs = nn.Parameter(torch.zeros(d))  # e_k when nothing is observed
        self.position = nn.Parameter(0.02 * torch.randn(cfg.encode_patches, d))
        self.prelude = Prelude(d)
        self.core = LoopedCore(cfg)
        self.pool = nn.Linear(d, 1)  # scores of the softmax pooling of context tokens into h_0
        self.coda = Coda(d, cfg.coda_hidden)
        self.quantile_head = QuantileHead(d, cfg.patch_len, cfg.target, cfg.quantiles)
        self.event_head = EventHead(d, cfg.patch_len, cfg.event)
        self.linear_path = LinearPath(cfg) if cfg.linear_path and cfg.target > 0 else None
        # the logging operator's policy (policy.py): overlap of a plan with the log
        self.policy = PolicyHead(cfg) if cfg.policy_head and cfg.intervention > 0 else None
        # propensity as a covariate: the policy's median controls of a patch enter that patch's drive
        self.propensity_embed = (nn.Linear(cfg.patch_len * cfg.intervention, d)
                                 if cfg.propensity_input and self.policy is not None else None)
        if self.propensity_embed is not None:  # starts inert: the model begins as it would without it
            nn.init.zeros_(self.propensity_embed.weight), nn.init.zeros_(self.propensity_embed.bias)
        # balancing (CRN): an adversary of the same form, trained through a gradient reversal
        self.adversary = (QuantileHead(d, cfg.patch_len, cfg.intervention, cfg.quantiles)
                          if cfg.balance_weight > 0 and cfg.intervention > 0 else None)
        self.projector = nn.Linear(d, d)  # g of the consistency loss
        self.rho_raw = nn.Parameter(torch.zeros(cfg.target))  # rho = tanh(raw), if learned
        if cfg.outer_retention > 0:  # lambda = cap * sigmoid(raw), started at outer_retention
            self.outer_raw = nn.Parameter(torch.logit(torch.tensor(cfg.outer_retention / OUTER_RETENTION_CAP)))
        self.register_buffer("levels", torch.tensor(cfg.quantiles), persistent=False)
        self.register_buffer("step_norms", torch.zeros(cfg.cmax_buffer))  # teacher-forced ||h_{k+1} - h_k||
        self.register_buffer("step_norms_seen", torch.zeros((), dtype=torch.long))

    # ------------------------------------------------------------------ verbs
    def new_run(self, batch_size: int, depth: int | None = None) -> LoopRun:
        """Loop settings of one pass: sampled depths when training, else fixed depth or early exit."""
        cfg, device = self.cfg, self.null_obs.device
        fixed = depth is not None or not cfg.looped or not cfg.shared
        exit_ = not fixed and not self.training and cfg.exit_rule != "none"
        if not cfg.looped or not cfg.shared:
            depth = min(depth or cfg.fixed_depth, cfg.fixed_depth)
        if fixed:
            depths = torch.full((batch_size,), int(depth), device=device)
        elif self.training:  # per sequence T = max(1, Poisson(mu)), capped at max_depth
            rate = torch.full((batch_size,), float(cfg.mean_depth), device=device)
            depths = torch.poisson(rate).long().clamp(1, cfg.max_depth)
        else:
            depths = torch.full((batch_size,), cfg.max_depth if exit_ else cfg.fixed_depth, device=device)
        # truncated backprop through depth is for the shared loop; an unshared stack trains every block
        grad_loops = cfg.grad_loops if self.training and cfg.shared and cfg.looped else int(depths.max())
        return LoopRun(depths, grad_loops, exit_, self.core.coefficients(),
                       train_gate=self.training and cfg.exit_rule.startswith("gate") and not fixed)

    def encode(self, batch: dict[str, Tensor], run: LoopRun | None = None) -> Tensor:
        """Context window -> initial latent state h_0 (B, D)."""
        batch = self.normalise(batch)[0]
        e, u = self.context_inputs(batch)  # (B, N_c, D) each
        n = self.cfg.encode_patches
        p = self.token_injection(e[:, :n], u[:, :n])  # (B, n, D)
        run = run or self.new_run(p.shape[0])
        z = self.core(p, torch.zeros_like(p), run, mix=True)  # (B, n, D) all tokens looped at once
        weights = torch.softmax(self.pool(z), dim=1)  # (B, n, 1); convex, so ||h|| <= max_n ||z_n||
        h = (weights * z).sum(1)
        for j in range(n, e.shape[1]):  # filter the last patches: observed outer steps
            h = self.step(h, u[:, j], e[:, j], run)
        return h

    def step(self, h: Tensor, u: Tensor, e: Tensor | None = None, run: LoopRun | None = None) -> Tensor:
        """One outer step: h_{k-1} (B, D), drive u_k (B, D), observation e_k (B, D) or None -> h_k (B, D)."""
        e = self.null_obs.expand_as(h) if e is None else e
        p = self.prelude(e, u)[:, None]  # (B, 1, D); h enters only as the warm start, so the step is certified
        run = run or self.new_run(h.shape[0])
        z = self.core(p, h[:, None], run)[:, 0]  # warm start z^(0) = h_{k-1}
        if self.cfg.outer_retention > 0:
            # The loop relaxes z towards the fixed point of its injection and forgets h_{k-1} within a few
            # outer steps (ETTh1: 0.23 per step); keep a share lambda of it. The step's Lipschitz constant
            # is then at most lambda + (1 - lambda) L < 1 (stability.outer_bound).
            lam = self.outer_lambda()
            z = lam * h + (1 - lam) * z
        return z

    def outer_lambda(self) -> Tensor:
        """lambda in (0, OUTER_RETENTION_CAP): the share of h_{k-1} kept by each outer step."""
        return OUTER_RETENTION_CAP * torch.sigmoid(self.outer_raw)

    def rollout(self, h0: Tensor, drive: Tensor, obs: Tensor | None = None,
                run: LoopRun | None = None) -> Tensor:
        """K outer steps from h_0 (B, D) under drive (B, K, D), teacher-forced if obs (B, K, D) -> (B, K, D)."""
        run = run or self.new_run(h0.shape[0])
        states, h = [], h0
        for k in range(drive.shape[1]):
            h = self.step(h, drive[:, k], None if obs is None else obs[:, k], run)
            states.append(h)
        return torch.stack(states, dim=1)

    def imagine(self, h0: Tensor, plan: dict[str, Tensor], run: LoopRun | None = None) -> Tensor:
        """Roll h_0 under a plan (future_known, future_control, future_control_mask, static) -> (B, K, D)."""
        return self.rollout(h0, self.drive_embed.future(plan), run=run)

    def decode(self, h: Tensor) -> tuple[Tensor, Tensor]:
        """States (B, K, D) -> quantiles (B, K*P, Ct, Q) and event logits (B, K*P, Ce) of their patches."""
        features = self.coda(h)
        return self.quantile_head(features), self.event_head(features)

    def decode_forecast(self, h: Tensor, batch: dict[str, Tensor], first: int = 0) -> tuple[Tensor, Tensor]:
        """``decode`` plus the linear path: states of horizon patches first .. first + K - 1 (B, K, D) of a
        normalised batch -> quantiles (B, n, Ct, Q) in instance units and event logits (B, n, Ce), where
        n = the horizon steps those patches cover."""
        q, logits = self.decode(h)
        p, horizon = self.cfg.patch_len, self.cfg.horizon
        span = slice(first * p, min((first + h.shape[1]) * p, horizon))
        n = span.stop - span.start
        q, logits = q[:, :n], logits[:, :n]
        if self.linear_path is not None:
            q = q + self.linear_path(batch)[:, span, :, None]
        return q, logits

    def forward(self, batch: dict[str, Tensor], depth: int | None = None) -> ModelOutput:
        """Forecast the horizon: encode the context, imagine under the batch's future inputs, decode."""
        batch, shift, scale = self.normalise(batch)
        run = self.new_run(batch["past_target"].shape[0], depth)
        h0 = self.encode(batch, run)
        h = self.imagine(h0, batch, run)
        quantiles, logits = self.decode_forecast(h, batch)
        quantiles = quantiles * scale[..., None] + shift[..., None]  # back from instance units
        return ModelOutput(quantiles, torch.sigmoid(logits), logits,
                           torch.cat([h0[:, None], h], dim=1), run.mean_loops())

    def sample_paths(self, batch: dict[str, Tensor], num_samples: int,
                     generator: torch.Generator | None = None, noise: Tensor | None = None) -> SamplePaths:
        """Joint sample paths (targets (S, B, H, Ct), events) from one explicit noise tensor."""
        return sample_paths(self, batch, num_samples, generator, noise)

    # --------------------------------------------------------------- internals
    def normalise(self, batch: dict[str, Tensor]) -> tuple[dict[str, Tensor], Tensor, Tensor]:
        """With ``instance_norm``: targets in units of their own context's mean and std (RevIN),
        and that shift and scale (B, 1, Ct); otherwise the batch unchanged with 0 and 1."""
        y = batch["past_target"]
        if not self.cfg.instance_norm:
            return batch, y.new_zeros(y.shape[0], 1, y.shape[2]), y.new_ones(y.shape[0], 1, y.shape[2])
        if "target_shift" in batch:  # already normalised: the verbs may be called on either
            return batch, batch["target_shift"], batch["target_scale"]
        mask = batch["past_target_mask"]
        count = mask.sum(1, keepdim=True).clamp_min(1.0)
        shift = (y * mask).sum(1, keepdim=True) / count  # masked values are zero-filled
        var = (((y - shift) * mask) ** 2).sum(1, keepdim=True) / count
        scale = var.sqrt().clamp_min(0.1)  # a flat context must not blow the horizon up
        out = dict(batch, target_shift=shift, target_scale=scale)
        for key in ("past_target", "future_target"):
            out[key] = (batch[key] - shift) / scale * batch[f"{key}_mask"]
        return out, shift, scale

    def context_inputs(self, batch: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        """Observation and drive embeddings of the context patches (B, N_c, D), observations dropped out."""
        e = self.obs_embed(batch["past_target"], batch["past_target_mask"], batch["past_event"], True)
        if self.training and self.cfg.obs_dropout > 0:  # the null-observation regime, mid-sequence too
            drop = torch.rand(e.shape[:2], device=e.device) < self.cfg.obs_dropout
            e = torch.where(drop[..., None], self.null_obs, e)
        return e, self.drive_embed.context(batch)

    def last_context_obs(self, batch: dict[str, Tensor]) -> Tensor:
        """Embedding of the context's last observed patch (B, 1, D), never dropped out: what the
        one-step prior of the first horizon patch injects under ``prior_obs``."""
        return self.obs_embed(batch["past_target"], batch["past_target_mask"], batch["past_event"], True)[:, -1:]

    def token_injection(self, e: Tensor, u: Tensor) -> Tensor:
        """Injected signal p of context tokens (B, n, D): no previous state, a position embedding."""
        return self.prelude(e, u + self.position)

    def future_obs(self, batch: dict[str, Tensor], encoder: nn.Module) -> Tensor:
        """Embedded future observations per outer step (B, K_f, D)."""
        return encoder(batch["future_target"], batch["future_target_mask"], batch["future_event"], False)

    def target_rho(self) -> Tensor:
        """AR(1) copula rho per target channel (Ct,)."""
        if self.cfg.copula_rho is not None:
            return torch.full_like(self.rho_raw, self.cfg.copula_rho)
        return torch.tanh(self.rho_raw)

    def c_max(self, norms: Tensor | None = None) -> float:
        """C_max: the configured quantile of teacher-forced step norms, after adding ``norms``."""
        if norms is not None and self.training:
            norms = norms.detach().flatten()[-self.step_norms.numel():]
            size = self.step_norms.numel()
            idx = (self.step_norms_seen + torch.arange(norms.numel(), device=norms.device)) % size
            self.step_norms[idx] = norms
            self.step_norms_seen += norms.numel()
        seen = int(min(int(self.step_norms_seen), self.step_norms.numel()))
        if seen == 0:
            return float(norms.quantile(self.cfg.cmax_quantile)) if norms is not None else float("inf")
        return float(self.step_norms[:seen].quantile(self.cfg.cmax_quantile))

    # -------------------------------------------------------------- training
    def loss(self, batch: dict[str, Tensor], step: int = 0) -> tuple[Tensor, dict[str, float]]:
        """Total training loss and its parts as floats; ``step`` drives the deferred K curriculum."""
        batch = self.normalise(batch)[0]  # losses are in instance units when instance_norm is on
        cfg = self.cfg
        if self.training and cfg.control_members > 1:
            batch = dict(batch, member=bootstrap_member(batch, cfg))
        run = self.new_run(batch["past_target"].shape[0])
        h0 = self.encode(batch, run)
        drive = self.drive_embed.future(batch)  # (B, K_f, D)
        regime = self._deferred_terms if cfg.deferred else self._stepwise_terms
        # Under G-computation the multi-step regime does not see the logged future controls: the operator
        # chose them after outcomes that regime does not observe, so reading them there teaches the shared
        # control pathway the operator's reaction. Controls then act only through the one-step conditional.
        blind = self.drive_embed.future(without_future_controls(batch)) if cfg.rollout == "gcomp" else drive
        terms, h, q_all, logs = regime(batch, h0, blind, run, step)
        if cfg.rollout == "gcomp":  # G-computation never samples the blind regime: weight it (0 = one-step only, G-Net)
            for name in ("forecast", "event"):
                if cfg.blind_weight > 0:
                    terms[name] = cfg.blind_weight * terms[name]
                else:
                    del terms[name]
        y, mask = batch["future_target"], batch["future_target_mask"]
        if cfg.one_step_weight > 0 or self.adversary is not None:
            q_one, logits_one, before = self._one_step_prior(batch, h0, drive, run)[:3]
            if cfg.one_step_weight > 0:
                terms["one_step"] = cfg.one_step_weight * (
                    losses.pinball(q_one, y, self.fit_weight(batch), self.levels)
                    + losses.event_bce(logits_one, batch["future_event"], cfg.event_pos_weight))
            if self.one_step_only:  # the blind regime is untrained: the copula is of the one-step conditionals' PITs
                q_all = q_one
            if self.adversary is not None:  # the adversary learns the policy; the states learn to hide it
                hidden = losses.reverse_gradient(before, cfg.balance_weight)
                terms["balance"] = self._policy_loss(batch, self.adversary(hidden))
        if self.policy is not None:  # on detached inputs: it describes the log, it does not shape the model
            seen, known = policy_inputs(self, batch, batch["future_target"], batch["future_event"],
                                        batch["future_target_mask"])
            terms["policy"] = self._policy_loss(batch, self.policy(seen, known))
        if cfg.jacobian_weight > 0 and torch.is_grad_enabled():
            states = torch.cat([h0[:, None], h], dim=1)
            terms["jacobian"] = cfg.jacobian_weight * self._jacobian(states, blind, run)
        if cfg.copula_rho is None and cfg.target > 0:
            n = q_all.shape[1]
            terms["copula"] = losses.copula_nll(q_all, y[:, :n], mask[:, :n], self.levels, self.target_rho())
        if run.gate_losses:
            terms["gate"] = torch.stack(run.gate_losses).mean()
        total = sum(terms.values())
        logs = {**{name: float(value.detach()) for name, value in terms.items()}, **logs}
        logs.update(loss=float(total.detach()), loops=run.mean_loops())
        return total, logs

    def fit_weight(self, batch: dict[str, Tensor]) -> Tensor:
        """Weights (B, H, Ct) of the forecast pinball terms of a normalised batch: the target mask, times
        each window's context spread under ``loss_units="task"``. The pinball is a weighted mean, so the
        loss then averages the errors as they are in the task's units, the units of its metrics,
        instead of weighting a calm window's error up by its small spread."""
        mask = batch["future_target_mask"]
        if self.cfg.loss_units == "task" and "target_scale" in batch:
            return mask * batch["target_scale"]
        return mask

    def _deferred_terms(self, batch: dict[str, Tensor], h0: Tensor, drive: Tensor, run: LoopRun,
                        step: int) -> tuple[dict[str, Tensor], Tensor, Tensor, dict[str, float]]:
        """Deferred decoding: roll K outer steps, decode only the terminal patch; consistency and path terms.

        Returns the loss terms, the states (B, K, D), the whole rollout's quantiles (no grad, for the
        copula) and extra logs."""
        cfg, p = self.cfg, self.cfg.patch_len
        y, events = batch["future_target"], batch["future_event"]
        k = cfg.deferred_k(step)
        if cfg.k_sample and self.training:  # else only the last patch would ever be trained
            k = int(torch.randint(1, k + 1, ()))
        h = self.rollout(h0, drive[:, :k], run=run)  # (B, K, D)
        q, logits = self.decode_forecast(h[:, -1:], batch, first=k - 1)
        span = slice((k - 1) * p, min(k * p, cfg.horizon))
        terms = {"forecast": losses.pinball(q, y[:, span], self.fit_weight(batch)[:, span], self.levels),
                 "event": losses.event_bce(logits, events[:, span], cfg.event_pos_weight)}
        target = self.future_obs(batch, self.target_obs_embed)[:, :k]
        terms["consist"] = cfg.consist_weight * losses.consistency(self.projector(h), target)
        logs = {"deferred_k": float(k)}
        if cfg.path_weight > 0:
            refresh = not self.training or step % cfg.cmax_every == 0 or int(self.step_norms_seen) == 0
            norms = None
            if refresh:  # teacher-forced rollout: the reference step size C_max (a running quantile)
                with torch.no_grad():
                    obs = self.future_obs(batch, self.obs_embed)[:, :k]
                    tf = torch.cat([h0[:, None], self.rollout(h0, drive[:, :k], obs, run.untraced())], dim=1)
                    norms = (tf[:, 1:] - tf[:, :-1]).norm(dim=-1)
            logs["c_max"] = c_max = self.c_max(norms)
            terms["path"] = cfg.path_weight * losses.path_hinge(torch.cat([h0[:, None], h], dim=1), c_max)
        with torch.no_grad():
            q_all = self.decode_forecast(h.detach(), batch)[0]
        return terms, h, q_all, logs

    def _stepwise_terms(self, batch: dict[str, Tensor], h0: Tensor, drive: Tensor, run: LoopRun,
                        step: int) -> tuple[dict[str, Tensor], Tensor, Tensor, dict[str, float]]:
        """Step-wise decoding: decode every outer step of the horizon (same returns as ``_deferred_terms``)."""
        cfg = self.cfg
        h = self.rollout(h0, drive, run=run)
        q_all, logits = self.decode_forecast(h, batch)
        terms = {"forecast": losses.pinball(q_all, batch["future_target"], self.fit_weight(batch), self.levels),
                 "event": losses.event_bce(logits, batch["future_event"], cfg.event_pos_weight)}
        return terms, h, q_all, {"deferred_k": float(drive.shape[1])}

    def _one_step_prior(self, batch: dict[str, Tensor], h0: Tensor, drive: Tensor,
                        run: LoopRun) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """One imagined step taken from each teacher-forced (observed) state of a normalised batch:
        its quantiles (B, H, Ct, Q) in instance units and event logits (B, H, Ce), the states
        before each patch (B, K, D) and the states after observing each patch (B, K, D).

        Under a reactive logging policy the control of patch k depends on what was seen up to
        patch k-1; an open-loop rollout hides that from the model, which then learns the policy's
        correlations (more replicas <-> more load) instead of the control's effect. Stepping from
        the observed state conditions on what the policy saw, so these conditionals carry the
        unconfounded transition, the one a what-if needs (G-computation chains them).
        """
        obs = self.future_obs(batch, self.obs_embed)  # (B, K, D)
        previous = None  # patch k-1's observation for each patch k, where an option reads it
        if self.cfg.prior_obs or self.propensity_embed is not None:
            previous = torch.cat([self.last_context_obs(batch), obs[:, :-1]], dim=1)
        if self.propensity_embed is not None:  # what the operator had seen before each patch
            drive = drive + self.propensity_drive(previous, self.drive_embed.exogenous(batch))
        posterior = self.rollout(h0, drive, obs, run)  # (B, K, D): h_k after observing patch k
        before = torch.cat([h0[:, None], posterior[:, :-1]], dim=1)  # state before each patch
        b, k, d = before.shape
        flat_run = run.untraced(depth=run.depth.repeat_interleave(k))
        seen = None
        if self.cfg.prior_obs:  # patch k's step injects patch k-1's observation (the context's last for k = 0)
            seen = previous.reshape(b * k, d)
        # the run's coefficients, not new ones: a second power-iteration update would break backward
        prior = self.step(before.reshape(b * k, d), drive.reshape(b * k, d), seen, flat_run)
        q, logits = self.decode_forecast(prior.view(b, k, d), batch)
        return q, logits, before, posterior

    @property
    def one_step_only(self) -> bool:
        """True when training fits only the one-step conditionals (G-Net: ``rollout`` gcomp with
        ``blind_weight`` 0), so that validation and the copula must score those, not the forward pass."""
        return self.cfg.rollout == "gcomp" and self.cfg.blind_weight == 0

    def one_step_forecast(self, batch: dict[str, Tensor], depth: int | None = None) -> ModelOutput:
        """The one-step conditionals of the horizon (quantiles in scaled units): each patch forecast
        from the state that observed every patch before it, under the batch's inputs. G-computation
        samples by chaining these; a model trained on them alone (``one_step_only``) is validated on them."""
        batch, shift, scale = self.normalise(batch)
        run = self.new_run(batch["past_target"].shape[0], depth)
        h0 = self.encode(batch, run)
        q, logits, _, posterior = self._one_step_prior(batch, h0, self.drive_embed.future(batch), run)
        q = q * scale[..., None] + shift[..., None]  # back from instance units
        return ModelOutput(q, torch.sigmoid(logits), logits, torch.cat([h0[:, None], posterior], dim=1),
                           run.mean_loops())

    def propensity_drive(self, seen: Tensor, known: Tensor) -> Tensor:
        """The drive term of ``propensity_input`` (R, K, D): the policy head's median controls of each
        patch, given the observation before it ``seen`` (R, K, D) and its known drive ``known`` (R, K, D),
        embedded. The median is detached: a function of the history, which the one-step conditional may
        condition on without bias under sequential ignorability. With it the conditional need not read
        the operator's routine (a capacity schedule that follows demand) off the control itself, so the
        control's own pathway is left the deviation from that routine, the part a plan changes
        (Hahn, Murray & Carvalho 2020 give a regression the estimated propensity for the same reason)."""
        with torch.no_grad():
            q = self.policy(seen.detach(), known.detach())  # (R, K*P, Ci, Q)
            median = interpolate_quantiles(q, self.levels, q.new_full((1, *q.shape[:-1]), 0.5))[0]
        r, k = seen.shape[:2]
        return self.propensity_embed(median.reshape(r, k, -1))

    def _policy_loss(self, batch: dict[str, Tensor], quantiles: Tensor) -> Tensor:
        """Pinball loss of control quantiles (B, K*P, Ci, Q) read from the states before each patch
        against the logged controls of the patch."""
        q = quantiles[:, : self.cfg.horizon]
        return losses.pinball(q, batch["future_control"], batch["future_control_mask"], self.levels)

    def policy_quantiles(self, batch: dict[str, Tensor], future_target: Tensor, future_event: Tensor) -> Tensor:
        """Quantiles (R, H, Ci, Q) of the controls the logging operator would set over the horizon
        of a normalised batch (R rows), given the horizon's targets (R, H, Ct, instance units) and
        events (R, H, Ce) as the operator would have seen them (policy.py)."""
        return self.policy(*policy_inputs(self, batch, future_target, future_event))[:, : self.cfg.horizon]

    def _jacobian(self, states: Tensor, drive: Tensor, run: LoopRun) -> Tensor:
        """Jacobian penalty at one random outer step, recomputed with every loop differentiable."""
        k = int(torch.randint(states.shape[1] - 1, ()))
        h_prev = states[:, k].detach().requires_grad_(True)
        depth = min(self.cfg.grad_loops, self.cfg.fixed_depth) if self.cfg.shared else self.cfg.fixed_depth
        jac_run = run.untraced(depth=torch.full_like(run.depth, depth), grad_loops=depth, train_gate=False)
        return losses.jacobian_penalty(self.step(h_prev, drive[:, k], None, jac_run), h_prev)

    @torch.no_grad()
    def update_ema(self) -> None:
        """Move the EMA target encoder E' toward the observation encoder; call after each optimizer step."""
        for target, online in zip(self.target_obs_embed.parameters(), self.obs_embed.parameters()):
            target.lerp_(online, 1 - self.cfg.ema_decay)

    def param_groups(self, weight_decay: float) -> list[dict]:
        """AdamW groups: no decay on a, delta, B (Parcae), vectors (biases, norms) and embeddings."""
        decay, no_decay = [], []
        for name, param in self.named_parameters():
            if not param.requires_grad:
                continue
            leaf = name.rsplit(".", 1)[-1]
            exempt = param.ndim < 2 or leaf in ("a", "delta", "B") or name == "position"
            (no_decay if exempt else decay).append(param)
        return [{"params": decay, "weight_decay": weight_decay},
                {"params": no_decay, "weight_decay": 0.0}]

    def diagnostics(self, batch: dict[str, Tensor]) -> dict[str, float]:
        """Stability and compute numbers for the training log (A-bar range, bounds, sigma, loops, norms)."""
        return stability.diagnostics(self, batch)

    def lipschitz_probes(self, batch: dict[str, Tensor], iters: int) -> dict[str, float]:
        """Power-iteration sigma_max of the inner and outer steps at this batch's states (eval, no grad)."""
        return stability.lipschitz_probes(self, batch, iters)


def without_future_controls(batch: dict[str, Tensor]) -> dict[str, Tensor]:
    """The batch with every future control marked not set (value 0, mask 0); past controls stay."""
    out = dict(batch)
    for key in ("future_control", "future_control_mask"):
        if key in batch:
            out[key] = torch.zeros_like(batch[key])
    return out


POISSON1_CDF = (0.36788, 0.73576, 0.91970, 0.98101, 0.99634, 0.99941)  # P(N <= k), N ~ Poisson(1)


def bootstrap_member(batch: dict[str, Tensor], cfg: ModelConfig) -> Tensor:
    """The control member each training window trains (B,): a block bootstrap of the log.

    Blocks are a window long (series, window_start // (L + H)). Block b has a fixed Poisson(1)
    weight w_m(b) for member m, from a hash of (b, m), and a window trains member m with
    probability w_m(b) / sum_m' w_m'(b). Each member then sees the log reweighted as a bootstrap
    resample would (about a third of the blocks never), at no extra cost per step; their spread
    at query time is the estimation error of the controls' effect. Without window positions
    (streamed batches) members are drawn uniformly."""
    m = cfg.control_members
    n = batch["past_target"].shape[0]
    device = batch["past_target"].device
    if "window_start" not in batch or "series_index" not in batch:
        return torch.randint(m, (n,), device=device)
    block = batch["series_index"].long() * 1_000_003 + batch["window_start"].long() // (cfg.context_length + cfg.horizon)
    x = (block[:, None] * m + torch.arange(m, device=device)) & 0xFFFFFFFF  # (B, M)
    for mult, shift in ((0x9E3779B1, 16), (0x85EBCA6B, 13), (0xC2B2AE35, 16)):  # integer hash (murmur finaliser)
        x = (x * mult) & 0xFFFFFFFF
        x = x ^ (x >> shift)
    u = x.double() / 2.0 ** 32
    weights = (u[..., None] > torch.tensor(POISSON1_CDF, device=device, dtype=u.dtype)).sum(-1).float()  # Poisson(1)
    weights[weights.sum(1) == 0] = 1.0  # a block no member drew: any member
    return torch.multinomial(weights, 1).squeeze(1)
