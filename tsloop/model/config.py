"""The one model configuration: flat, typed, round-trips through a plain dict.

Build it from a size preset and the task's channel dimensions (``ModelConfig.for_task(preset,
spec)`` reads them from a task spec)::

    >>> cfg = ModelConfig.preset("small", dims=ChannelDims(target=2, intervention=1),
    ...                          context_length=96, horizon=24)
    >>> cfg.d_model, cfg.patch_len, cfg.horizon_patches
    (64, 8, 3)
    >>> ModelConfig.from_dict(cfg.to_dict()) == cfg   # what checkpoints store (no pickle)
    True
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from dataclasses import dataclass
from typing import Any

from tsloop.data.batch import ChannelDims
from tsloop.errors import CheckpointError, SpecError

EXIT_RULES = ("none", "delta", "second_diff", "gate", "gate_cdf")
ROLLOUTS = ("open_loop", "gcomp")
COVARIATE_UNITS = ("instance", "task")
CONTEXT_COVARIATES = ("none", "known", "all")
LOSS_UNITS = ("instance", "task")  # ModelConfig.loss_units
OUTER_RETENTION_CAP = 0.99  # lambda < 1: a convex mix with a contraction stays a contraction
LINEAR_FULL_MAX = 100_000  # weights of the linear path's full known-future map above which only the per-step map is used
LINEAR_CONTEXT_MAX = 20_000  # weights of the linear path's context-covariate map above which it is left out (EPF's 8,064 helped; the demo's 46,080 and ETTh1 MS's 55,296 cost accuracy)
DEFAULT_QUANTILES = (0.01, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99)


@dataclass
class ModelConfig:
    """Every hyperparameter of the looped latent world model, declared once."""

    # -- task shape (from ChannelDims and the task) --
    target: int  # channels with quantile forecasts
    past_exog: int = 0  # exogenous channels observed only in the past
    known_future: int = 0  # exogenous channels known over the horizon
    intervention: int = 0  # controls a plan may set (each with a given/not-given mask)
    event: int = 0  # binary rare-event channels
    static: int = 0  # per-series constants
    context_length: int = 96  # time steps of history per window
    horizon: int = 24  # time steps forecast per window
    control_lag: int | None = 0  # rows before a logged control acts (TaskSpec.control_timing); None = unaligned (models saved before alignment)
    # -- size --
    d_model: int = 64  # latent width D of the state h and of every token
    f_hidden: int = 128  # hidden width of F; even, because MaxMin pairs units
    f_layers: int = 2  # linear maps in F (2 = one MLP block over channels)
    coda_hidden: int = 128  # hidden width of the (unshared) coda before the heads
    patch_len: int = 8  # time steps per token and per outer step; 1 = no patching
    filter_patches: int = 1  # last context patches assimilated by observed outer steps (trains that regime)
    # -- inner loop (depth) --
    mean_depth: float = 8.0  # mu of T = max(1, Poisson(mu)); Parcae's 140M used 8
    max_depth: int = 16  # cap on loops: the Poisson tail in training, early exit at eval
    kappa: float = 0.9  # certified Lipschitz bound of one inner step; < 1 makes it a contraction
    retention_init: float = 0.447  # initial A-bar entries (Parcae)
    retention_max: float = 0.85  # A-bar clamp; < kappa so gamma * Lip(F) keeps a share of the budget
    gamma_init: float = 0.88  # initial gamma as a fraction of its cap (sigmoid(2) ~ 0.88)
    # -- early exit (evaluation) --
    exit_rule: str = "delta"  # none | delta | second_diff | gate | gate_cdf (see exit.py)
    exit_eps: float = 0.03  # relative threshold of the delta / second-difference rules (Huginn: 0.03)
    exit_min_loops: int = 2  # loops always run before any exit
    gate_threshold: float = 0.5  # tau: gate exits when g > tau (gate) or 1 - prod(1 - g) > tau (gate_cdf)
    gate_entropy_weight: float = 0.01  # entropy bonus on the gate's exit distribution (anti-collapse)
    gate_loop_cost: float = 0.1  # gate objective: a loop must cut the certified error bound by this much
    # -- heads and sampling --
    quantiles: tuple[float, ...] = DEFAULT_QUANTILES  # fixed pinball grid, increasing in (0, 1)
    event_pos_weight: float = 1.0  # BCE weight of positives; raise it for rare events
    copula_rho: float | None = None  # AR(1) rho of the Gaussian copula; None = learned per target
    event_rho: float = 0.5  # copula rho for event draws (events cluster in time)
    # -- training --
    obs_dropout: float = 0.1  # probability a context patch's observation is replaced by the null embedding
    deferred: bool = True  # terminal-only decoding in training; False = decode every outer step
    consist_weight: float = 0.5  # alpha of the latent consistency loss
    path_weight: float = 0.1  # beta of the path-length hinge
    k_max: int | None = None  # curriculum cap on deferred K (outer steps); None = whole horizon
    k_every: int = 25  # Delta: optimizer steps per +1 of K (500 never reached the full horizon on CPU budgets)
    k_sample: bool = True  # train on K ~ U{1..curriculum cap}: every horizon patch is some batch's terminal
    cmax_quantile: float = 0.95  # C_max = this quantile of teacher-forced step norms
    cmax_buffer: int = 2048  # running buffer of teacher-forced step norms
    cmax_every: int = 10  # optimizer steps between teacher-forced rollouts that refresh that buffer
    ema_decay: float = 0.99  # target-encoder EMA decay per optimizer step
    jacobian_weight: float = 0.01  # lambda_J of the latent-step Jacobian penalty; 0 = off
    one_step_weight: float = 0.0  # one-step prior from teacher-forced states: unconfounded transition signal
    prior_obs: bool = False  # the one-step prior's step injects the previous patch's observation (else the null observation): the conditional sees the last value directly, not only through the state
    # -- what-if identification (set for tasks with interventions by ``for_task``) --
    blind_weight: float = 1.0  # under gcomp: weight of the multi-step regime's forecast terms (blind to future controls; G-computation never samples it); 0 = one-step conditionals only (G-Net)
    rollout: str = "open_loop"  # sample paths: open_loop (imagine under the plan) | gcomp (feed sampled observations back)
    control_members: int = 1  # bootstrap members of the control embedding: their spread is the effect's estimation error
    policy_head: bool = False  # learn the logging operator's policy (overlap diagnostics of plans)
    propensity_input: bool = False  # under gcomp: each step's drive also carries the policy head's median control for that patch, given what the operator had seen (a function of the history, so legitimate to condition on): the schedule need not be read off the control itself (policy.py)
    balance_weight: float = 0.0  # CRN-style balancing: an adversary reads the logged controls from the state, the state is trained to hide them (gradient reversal); 0 = off
    outer_retention: float = 0.5  # lambda_0 of h_k = lambda h_{k-1} + (1 - lambda) step: memory across outer steps (learned); 0 = off
    linear_path: bool = True  # add a linear forecast from the context and known-future inputs (linear_path.py)
    linear_known_full: bool = True  # linear path also maps every known-future step to every horizon step (if <= LINEAR_FULL_MAX weights; EPF NP MSE 0.248 -> 0.237)
    linear_context_covariates: str = "known"  # covariates over the context that the linear path maps to the horizon (if <= LINEAR_CONTEXT_MAX weights): none | known (known-future inputs; EPF NP MSE 0.236 -> 0.214) | all (past-only too; ETTh1 MS 0.056 -> 0.063)
    linear_known_hidden: int = 0  # width of a per-step MLP of the known-future row in the linear path (a nonlinear response, e.g. price to load); 0 = off
    linear_known_poly: int = 3  # degree of per-step monomials of the known-future row (products and powers, 2..degree) mapped linearly in the task's units; 0 = off
    linear_covariate_units: str = "instance"  # units of the covariate terms: "instance" (scaled by the context's spread, as the target's) | "task" (as ridge)
    loss_units: str = "instance"  # units the forecast pinball is averaged in under instance_norm: "instance" (every window alike) | "task" (each window weighted by its context's spread, as the task's metrics weigh it)
    instance_norm: bool = True  # RevIN: targets in units of each window's own context mean/std (EPF NP MSE 0.67 -> 0.25)
    level_input: bool = False  # under instance_norm: each target's context mean and log std (what RevIN takes out) enter every drive, as statics do, so dynamics that depend on the absolute level (saturation, Gompertz growth, an operator's thresholds) stay visible
    # -- ablations --
    constrained: bool = True  # False: A-bar and F free, no gamma cap, no spectral norm
    looped: bool = True  # False: one loop (T = 1)
    shared: bool = True  # False: an unshared stack of round(mu) blocks

    def __post_init__(self) -> None:
        self.quantiles = tuple(float(q) for q in self.quantiles)
        self.validate()

    # -- derived sizes --
    @property
    def dims(self) -> ChannelDims:
        return ChannelDims(self.target, self.past_exog, self.known_future, self.intervention,
                           self.event, self.static)

    @property
    def context_patches(self) -> int:
        return math.ceil(self.context_length / self.patch_len)

    @property
    def encode_patches(self) -> int:
        """Context patches encoded as tokens all at once; the rest are filtered step by step."""
        return self.context_patches - min(self.filter_patches, self.context_patches - 1)

    def quantile_index(self, level: float) -> int:
        """Index of the quantile level nearest ``level`` (the first of two equally near)."""
        return min(range(len(self.quantiles)), key=lambda i: abs(self.quantiles[i] - level))

    @property
    def median_index(self) -> int:
        """Index of the quantile level nearest 0.5: the point forecast."""
        return self.quantile_index(0.5)

    @property
    def horizon_patches(self) -> int:
        return math.ceil(self.horizon / self.patch_len)

    @property
    def grad_loops(self) -> int:
        """Loops backpropagated through: the last ceil(mu / 2)."""
        return max(1, math.ceil(self.mean_depth / 2))

    @property
    def fixed_depth(self) -> int:
        """Depth used where depth is not sampled: eval without exit, the unshared stack."""
        return 1 if not self.looped else max(1, round(self.mean_depth))

    @property
    def deferred_k_max(self) -> int:
        return min(self.k_max or self.horizon_patches, self.horizon_patches)

    def deferred_k(self, step: int) -> int:
        """Curriculum K = min(K_max, 1 + step // Delta)."""
        return min(self.deferred_k_max, 1 + max(0, int(step)) // self.k_every)

    # -- construction --
    @classmethod
    def preset(cls, name: str, *, dims: ChannelDims, context_length: int, horizon: int,
               **overrides: Any) -> "ModelConfig":
        """A size preset ('tiny', 'small', 'base') for a task, with optional field overrides."""
        if name not in PRESETS:
            raise SpecError(f"unknown model preset {name!r}; choose one of {sorted(PRESETS)}")
        fields = {f.name: dims.width(f.name) for f in dataclasses.fields(ChannelDims)}
        return cls(**fields, context_length=context_length, horizon=horizon,
                   **{**PRESETS[name], **overrides})

    @classmethod
    def for_task(cls, name: str, spec: Any, **overrides: Any) -> "ModelConfig":
        """``preset`` for a ``TaskSpec``: its channels, window, control timing, and for a task with
        interventions the what-if defaults (``WHATIF_DEFAULTS``); ``overrides`` win over both."""
        return cls.preset(name, dims=spec.dims, context_length=spec.context_length, horizon=spec.horizon,
                          **{**_task_settings(spec), **overrides})

    @classmethod
    def for_task_from(cls, base: "ModelConfig", spec: Any, **overrides: Any) -> "ModelConfig":
        """``base``'s size and method (a pretrained model's config) for a ``TaskSpec``: its channels,
        window and control timing, and for a task with interventions the what-if defaults, as
        ``for_task``; ``overrides`` win over all. A ``base`` that had no covariates has nothing to
        say about the direct path's covariate terms (``COVARIATE_PATH``): those take the defaults."""
        shape = {f.name: spec.dims.width(f.name) for f in dataclasses.fields(ChannelDims)}
        return cls.from_dict({**base.to_dict(), **_covariate_path(base), **shape, "context_length": spec.context_length,
                              "horizon": spec.horizon, **_task_settings(spec), **overrides})

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (lists, numbers, strings, None)."""
        out = dataclasses.asdict(self)
        out["quantiles"] = list(self.quantiles)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ModelConfig":
        """Inverse of ``to_dict``; unknown keys mean the checkpoint is from another version."""
        if "linear_past_covariates" in data:  # its first form (2026-12-06): a switch for all of them
            data = dict(data)
            data["linear_context_covariates"] = "all" if data.pop("linear_past_covariates") else "none"
        known = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(data) - set(known))
        if unknown:
            hints = {k: difflib.get_close_matches(k, known, n=1) for k in unknown}
            hint = "; ".join(f"{k!r}: did you mean {m[0]!r}?" for k, m in hints.items() if m)
            raise CheckpointError(
                f"model config has unknown keys {unknown}{' (' + hint + ')' if hint else ''}. "
                "If it came from a checkpoint, another tsloop version wrote it: retrain, or load it "
                "with that version.")
        if "control_lag" not in data:  # written before controls were aligned: keep how it was trained
            data = {**data, "control_lag": None}
        if "linear_context_covariates" not in data:  # written before the direct path read the context's covariates
            data = {**data, "linear_context_covariates": "none"}
        if "loss_units" not in data:  # written before the option: trained in instance units
            data = {**data, "loss_units": "instance"}
        if "linear_known_poly" not in data:  # written before the direct path had monomial terms
            data = {**data, "linear_known_poly": 0}
        try:
            return cls(**data)
        except TypeError as err:
            raise CheckpointError(f"model config in checkpoint is incomplete: {err}") from err

    def validate(self) -> None:
        def need(ok: bool, what: str) -> None:
            if not ok:
                raise SpecError(f"ModelConfig: {what}")

        for role in ("target", "past_exog", "known_future", "intervention", "event", "static"):
            need(getattr(self, role) >= 0, f"{role} must be >= 0 channels")
        need(self.target + self.event >= 1, "a task needs at least one target or event channel")
        need(self.context_length >= 1 and self.horizon >= 1, "context_length and horizon must be >= 1")
        need(self.patch_len >= 1 and self.filter_patches >= 0, "patch_len >= 1 and filter_patches >= 0")
        need(self.d_model >= 2 and self.f_hidden >= 2 and self.f_hidden % 2 == 0,
             "d_model >= 2 and f_hidden must be an even number >= 2 (MaxMin pairs units)")
        need(self.f_layers >= 2, "f_layers must be >= 2")
        need(self.mean_depth > 0 and self.max_depth >= 1, "mean_depth > 0 and max_depth >= 1")
        need(0 < self.kappa < 1, f"kappa must lie in (0, 1), got {self.kappa}")
        need(0 < self.retention_init <= self.retention_max < self.kappa,
             "need 0 < retention_init <= retention_max < kappa")
        need(0 < self.gamma_init < 1, "gamma_init is a fraction of the cap, in (0, 1)")
        need(self.exit_rule in EXIT_RULES, f"exit_rule must be one of {EXIT_RULES}, got {self.exit_rule!r}")
        need(self.exit_min_loops >= 1, "exit_min_loops must be >= 1")
        qs = self.quantiles
        need(len(qs) >= 2 and all(0 < q < 1 for q in qs) and all(a < b for a, b in zip(qs, qs[1:])),
             "quantiles must be >= 2 increasing levels inside (0, 1)")
        need(self.copula_rho is None or -1 < self.copula_rho < 1, "copula_rho must be None or in (-1, 1)")
        need(-1 < self.event_rho < 1, "event_rho must be in (-1, 1)")
        need(0 <= self.obs_dropout < 1, "obs_dropout must be in [0, 1)")
        need(self.k_every >= 1 and (self.k_max is None or self.k_max >= 1), "k_every >= 1, k_max >= 1")
        need(0 < self.cmax_quantile < 1 and self.cmax_buffer >= 1 and self.cmax_every >= 1,
             "cmax_quantile in (0, 1), cmax_buffer >= 1, cmax_every >= 1")
        need(0 <= self.ema_decay < 1, "ema_decay must be in [0, 1)")
        need(self.event_pos_weight > 0, "event_pos_weight must be > 0")
        need(self.control_lag in (None, 0, 1), f"control_lag must be 0, 1 or None, got {self.control_lag!r}")
        need(self.rollout in ROLLOUTS, f"rollout must be one of {ROLLOUTS}, got {self.rollout!r}")
        need(self.loss_units in LOSS_UNITS, f"loss_units must be one of {LOSS_UNITS}, got {self.loss_units!r}")
        need(self.instance_norm or not self.level_input,
             "level_input reads the level that instance_norm takes out; with instance_norm off the level is already in the input")
        need(self.linear_known_poly == 0 or self.linear_known_poly >= 2,
             "linear_known_poly must be 0 (off) or a degree >= 2 (the linear terms are always there)")
        need(self.linear_known_hidden >= 0, "linear_known_hidden must be >= 0 (0 = no per-step MLP)")
        need(self.linear_context_covariates in CONTEXT_COVARIATES,
             f"linear_context_covariates must be one of {CONTEXT_COVARIATES}, got {self.linear_context_covariates!r}")
        need(self.linear_covariate_units in COVARIATE_UNITS,
             f"linear_covariate_units must be one of {COVARIATE_UNITS}, got {self.linear_covariate_units!r}")
        need(self.blind_weight >= 0, f"blind_weight must be >= 0, got {self.blind_weight}")
        need(self.blind_weight > 0 or self.rollout != "gcomp" or self.one_step_weight > 0,
             "blind_weight 0 under rollout 'gcomp' trains the one-step conditionals only, so one_step_weight must be "
             f"> 0 (got {self.one_step_weight}); otherwise no forecast term is trained")
        need(self.balance_weight >= 0, f"balance_weight must be >= 0, got {self.balance_weight}")
        need(not self.propensity_input or (self.policy_head and self.rollout == "gcomp" and self.intervention > 0),
             "propensity_input needs policy_head True, rollout 'gcomp' and a task with interventions: the policy "
             "head's prediction is the input, and only the G-computation sampler can compute it step by step")
        need(self.control_members >= 1, f"control_members must be >= 1, got {self.control_members}")
        need(0 <= self.outer_retention < OUTER_RETENTION_CAP,
             f"outer_retention must be in [0, {OUTER_RETENTION_CAP}) (0 = off), got {self.outer_retention}")


# What-if defaults of every task with interventions (ModelConfig.for_task): G-computation rollouts
# trained by the one-step loss alone (G-Net's training), a bootstrap ensemble of the control pathway,
# and the policy head. blind_weight 0: with the blind multi-step forecast terms too (blind_weight 1),
# suite 4's trade-off pair at confounding 1 ranked 0.298 and 0.392 (seeds 0, 1); without, 0.815 and 0.807.
# patch_len 1: G-computation needs outcomes observed at the operator's decision resolution. With
# patches of P rows a control set inside a patch acts only from the next one (alignment), and the
# controls within a patch follow the logging policy in the model's world, not the plan: on the
# controlled simulator (tests/query/test_causal_controls.py) P = 4 recovered 12-20 % of the true
# effect, P = 1 71 % (tiny preset, 1,200 steps).
# linear_known_poly 0: on suite 4 (c = 1, seed 0) the cubic known terms with a fixed direct path made every
# what-if score worse (tsloop/train/prefit.py), on a joint path they scored close to the path without them:
# nothing to gain, so what-if tasks keep the path they had.
WHATIF_DEFAULTS: dict[str, Any] = dict(rollout="gcomp", one_step_weight=1.0, blind_weight=0.0, control_members=5,
                                       policy_head=True, patch_len=1, linear_known_poly=0)

# The direct path's terms of covariates (known-future and past-only inputs). A model that had none (the
# shipped pretrained model is univariate) has no weights for them to pass on, and its file may predate a
# term: the pretrained model's config has linear_known_poly 0, written before the monomials existed, and
# adapted models with it scored EPF NP 0.228 test MSE before training against a fresh model's 0.189
# (fine-tuning suite, seed 0, the direct path fitted by least squares in both).
COVARIATE_PATH = ("linear_known_full", "linear_context_covariates", "linear_known_hidden", "linear_known_poly",
                  "linear_covariate_units")


def _covariate_path(base: "ModelConfig") -> dict[str, Any]:
    """The covariate terms of an adapted model's direct path: ``base``'s when it had covariates, else
    the defaults."""
    if base.past_exog or base.known_future:
        return {}
    return {f.name: f.default for f in dataclasses.fields(ModelConfig) if f.name in COVARIATE_PATH}


def _task_settings(spec: Any) -> dict[str, Any]:
    """What a ``TaskSpec`` sets beyond its shape: its control timing and, for a task with
    interventions, the what-if defaults (``WHATIF_DEFAULTS``)."""
    return {"control_lag": spec.control_lag, **(WHATIF_DEFAULTS if spec.dims.intervention > 0 else {})}


# Size presets: tiny for tests (seconds on a CPU), small for CPU experiments, base for a GPU.
PRESETS: dict[str, dict[str, Any]] = {
    "tiny": dict(d_model=16, f_hidden=32, coda_hidden=32, patch_len=4, mean_depth=4.0, max_depth=8,
                 quantiles=(0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95)),
    # mean_depth 4: T = 4 scored within 0.4 % of T = 8 (efficiency suite) and EPF NP 0.277 vs 0.272 at 600 steps,
    # for about half the cost of a step
    "small": dict(d_model=64, f_hidden=128, coda_hidden=128, patch_len=8, mean_depth=4.0, max_depth=16),
    "base": dict(d_model=128, f_hidden=256, f_layers=3, coda_hidden=256, patch_len=8,
                 mean_depth=8.0, max_depth=24),
}
