"""Suite 4's models: tsloop and its what-if ablations as ModelConfig overrides, the GRU world model,
ridge, and the references (oracle, constant), each trained on a budget of optimizer steps.

    forecaster, budget, run_id = train_model("tsloop_gcomp", task, seed=0, steps=1500, out=Path(...))
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from torch import nn

from tsloop.demo.run import WHATIF_OPTIONS
from tsloop.output import atomic_path

PATCH4 = dict(WHATIF_OPTIONS)  # the demo's setting: the default with patches of 4 rows (trains ~3x faster)
OPEN_LOOP = {"rollout": "open_loop", "one_step_weight": 0.0}  # no correction: the naive multi-step rollout

MODELS = {  # name -> tsloop ModelConfig overrides on top of the task's default (tsloop_config); None: not tsloop
    "tsloop": {},  # the task's default: patches of one row, G-computation trained on one-step conditionals only, 5 control members, policy head, aligned controls
    "tsloop_patch4": PATCH4,
    "tsloop_openloop": OPEN_LOOP,
    "tsloop_onestep": {"rollout": "open_loop", "one_step_weight": 1.0},  # one-step loss, open-loop rollouts
    # the default until 2026-12-07: G-computation with the blind multi-step forecast terms as well
    "tsloop_blind": {"blind_weight": 1.0},
    # that one with the one-step loss weighted 3x: the one-step loss is the controls' only teacher
    "tsloop_onestep3": {"one_step_weight": 3.0, "blind_weight": 1.0},
    # the default whose one-step prior also injects the previous observation (the last value reaches the conditional directly)
    "tsloop_priorobs": {"prior_obs": True},
    # the default whose steps also read the policy head's median controls (propensity as a covariate)
    "tsloop_propensity": {"propensity_input": True},
    # the forecasting default's direct path (issue #12) taken apart: a least-squares path kept fixed, and the cubic
    # known terms on a jointly trained path (TRAIN_OVERRIDES gives each its direct_path)
    "tsloop_fixedpath": {"linear_known_poly": 0},
    "tsloop_fixedpoly": {"linear_known_poly": 3},
    "tsloop_jointpoly": {"linear_known_poly": 3},
    "tsloop_balance": {"balance_weight": 0.5},  # the default plus CRN-style balancing of the state
    # the default with each window's level (context mean and log std, which instance_norm takes out) in every drive
    "tsloop_levelin": {"level_input": True},
    # CRN's recipe: multi-step training that reads the logged controls, with a balanced state
    "tsloop_crn": {"rollout": "open_loop", "one_step_weight": 1.0, "balance_weight": 0.5},
    "tsloop_noensemble": {"control_members": 1},  # no epistemic members: noise-only effect intervals
    # controls read inside their own patch (before alignment); with patches of one row alignment changes nothing
    "tsloop_unaligned": PATCH4 | {"control_lag": None},
    "tsloop_openloop_patch4": PATCH4 | OPEN_LOOP,
    "gru": None,
    "ridge": None,
    "oracle": None,
    "constant": None,  # the better of the two constant answers per pair: the floor on ranking
    # the task's default started from the shipped pretrained model (issue #16: what-if after adaptation)
    "tsloop_pretrained": {},
    # architecture ablations (issue #7), not about what-if identification: selectable, not run by default
    "tsloop_stepwise": {"deferred": False},
    "tsloop_noloop": {"looped": False},
    "tsloop_unconstrained": {"constrained": False},
}
DEFAULT_MODELS = ("tsloop", "tsloop_blind", "tsloop_patch4", "tsloop_openloop", "tsloop_onestep", "tsloop_balance",
                  "tsloop_noensemble", "tsloop_unaligned", "gru", "ridge", "oracle", "constant")
REFERENCES = ("oracle", "constant")  # answered from the simulator's truth, nothing trained
FROM_PRETRAINED = ("tsloop_pretrained",)  # trained with TrainConfig.init = 'pretrained': its size, its weights


def tsloop_config(spec, overrides: dict, init: str | None = None):
    """The task's default tsloop model for the what-if task (``ModelConfig.for_task``: the what-if
    defaults of a task with interventions, what `tsloop train` gives a user) with ``overrides``:
    the one place that picks it. With ``init``, the size and method of that pretrained model
    (what `tsloop train --init` gives)."""
    from tsloop.model.config import ModelConfig
    from tsloop.train.init import init_config

    return init_config(init, spec, **overrides) if init else ModelConfig.for_task("small", spec, **overrides)


def unknown_fields(name: str) -> list[str]:
    """Override keys of a tsloop model that this tsloop's ModelConfig does not have ([] for peers)."""
    from tsloop.model.config import ModelConfig

    known = {f.name for f in dataclasses.fields(ModelConfig)}
    return sorted(set(MODELS.get(name) or {}) - known)


def runnable(models: list[str]) -> list[str]:
    """``models`` without the tsloop variants this tsloop cannot build, each skip said once."""
    keep = []
    for name in models:
        missing = unknown_fields(name)
        if missing:
            print(f"skipping {name}: ModelConfig has no field(s) {missing} in this tsloop "
                  f"(overrides {MODELS[name]}); it runs once they exist", flush=True)
        else:
            keep.append(name)
    return keep


# ------------------------------------------------------------------ ridge
class RidgePeer(nn.Module):
    """Direct multi-output ridge on the window (past targets, exogenous, events, future known inputs
    and the plan's controls); Gaussian quantiles with the validation residual s.d. per (h, c);
    event probability = the clipped linear prediction. A what-if feeds it the plan's controls."""

    def __init__(self, cfg, coef: np.ndarray, intercept: np.ndarray, sigma: np.ndarray):
        super().__init__()
        from scipy.stats import norm

        self.cfg = cfg
        self.register_buffer("coef", torch.tensor(coef, dtype=torch.float32))  # (F, H * (Ct + Ce))
        self.register_buffer("intercept", torch.tensor(intercept, dtype=torch.float32))
        self.register_buffer("sigma", torch.tensor(sigma, dtype=torch.float32))  # (H, Ct)
        self.register_buffer("levels", torch.tensor(cfg.quantiles, dtype=torch.float32))
        self.register_buffer("z", torch.tensor(norm.ppf(cfg.quantiles), dtype=torch.float32))
        self.register_buffer("rho", torch.zeros(cfg.target))

    @staticmethod
    def design(batch: dict) -> torch.Tensor:
        parts = [batch["past_target"], batch["past_exog"][:, -24:], batch["past_event"][:, -24:],
                 batch["past_control"][:, -1:], batch["future_known"], batch["future_control"], batch["static"]]
        return torch.cat([p.reshape(len(p), -1) for p in parts], dim=1)

    def target_rho(self) -> torch.Tensor:
        return self.rho

    def forward(self, batch: dict):
        from pipelines.bench.gru_peer import PeerOutput

        c = self.cfg
        out = (self.design(batch) @ self.coef + self.intercept).view(-1, c.horizon, c.target + c.event)
        q = out[..., : c.target, None] + self.sigma[..., None] * self.z  # (B, H, Ct, Q)
        prob = out[..., c.target :].clamp(1e-3, 1 - 1e-3)
        return PeerOutput(q, prob, torch.logit(prob))


def fit_ridge(task, stride: int = 2):
    from sklearn.linear_model import Ridge

    from pipelines.bench.gru_peer import GRUConfig, fit_copula_rho

    def arrays(part):
        batch = next(iter(torch.utils.data.DataLoader(task.dataset(part, stride=stride), batch_size=10**6)))
        y = torch.cat([batch["future_target"], batch["future_event"]], -1)
        return batch, RidgePeer.design(batch).numpy(), y.reshape(len(y), -1).numpy()

    cfg = GRUConfig.for_task(task.spec)  # the peer output shape (horizon, targets, events, quantile grid)
    (_, xt, yt), (_, xv, yv) = arrays("train"), arrays("val")
    Ct, best = cfg.target, None
    tgt = lambda y: y.reshape(len(y), cfg.horizon, -1)[..., :Ct]  # noqa: E731
    for alpha in (0.1, 1.0, 10.0, 100.0, 1000.0, 10000.0):
        m = Ridge(alpha=alpha).fit(xt, yt)
        err = float(np.mean((tgt(m.predict(xv)) - tgt(yv)) ** 2))
        best = min(best or (np.inf,), (err, alpha, m), key=lambda b: b[0])
    _, alpha, m = best
    sigma = (tgt(m.predict(xv)) - tgt(yv)).std(0)
    model = RidgePeer(cfg, m.coef_.T, m.intercept_, sigma)
    loader = torch.utils.data.DataLoader(task.dataset("val", stride=stride), batch_size=64)
    model.rho.copy_(fit_copula_rho(model, loader, 10**6))
    return model.eval(), {"alpha": alpha, "features": int(xt.shape[1]), "train_windows": len(xt)}


# ------------------------------------------------------------------ training on a step budget
TRAIN_OVERRIDES = {"tsloop_fixedpath": {"direct_path": "fixed"}, "tsloop_fixedpoly": {"direct_path": "fixed"},
                   "tsloop_jointpoly": {"direct_path": "joint"}}  # TrainConfig fields of a variant


def train_model(name: str, task, seed: int, steps: int, out: Path, run_name: str):
    """(forecaster, budget record, MLflow run id or None) for one trained model of MODELS; every
    trained model gets ``steps`` optimizer steps (early stopping on validation may end it sooner)."""
    from tsloop.forecaster import Forecaster

    if name == "gru":
        from pipelines.bench.gru_peer import GRUConfig, GRUWorldModel, PeerTrainConfig, train_peer

        torch.manual_seed(seed)
        model = GRUWorldModel(GRUConfig.for_task(task.spec))
        budget = train_peer(model, task, PeerTrainConfig(max_steps=steps, seed=seed))
        with atomic_path(out / "model.pt") as tmp:
            torch.save({"config": asdict(model.cfg), "state_dict": model.state_dict()}, tmp)
        return Forecaster(model, task.spec, task.scaler), {**budget, "params": _params(model)}, None
    if name == "ridge":
        start = time.perf_counter()
        model, info = fit_ridge(task)
        return Forecaster(model, task.spec, task.scaler), {"train_s": time.perf_counter() - start, **info}, None
    from tsloop.train.config import TrainConfig
    from tsloop.tracking.training import fit_and_record

    init = "pretrained" if name in FROM_PRETRAINED else None
    cfg = tsloop_config(task.spec, MODELS[name], init)
    train = TrainConfig(max_epochs=1000, max_steps=steps, seed=seed, train_stride=2, val_stride=2, patience=5,
                        progress_bar=False, init=init,  # the demo's budget rule: the steps bind, not the epochs
                        **TRAIN_OVERRIDES.get(name, {}))
    result = fit_and_record(task, cfg, train, out_dir=out, experiment="bench", run_name=run_name,
                            tags={"bench": "plant_whatif", "model": name})
    per_epoch = len(torch.utils.data.DataLoader(task.dataset("train", stride=2), batch_size=train.batch_size))
    budget = {"train_s": result.wall_time_s, "steps": int(result.steps), "epochs": result.steps / per_epoch,
              "threads": result.threads, "best_val_loss": result.metrics.get("val/loss"),
              "params": _params(torch.load(result.bundle_path, map_location="cpu", weights_only=True)),
              "budget": train.to_dict(), "overrides": {**MODELS[name], **TRAIN_OVERRIDES.get(name, {})},
              "model_config": cfg.to_dict()}
    return Forecaster.from_bundle_path(result.bundle_path), budget, result.run_id


def saved_model(name: str, folder: Path, record: Path, task=None):
    """(forecaster, budget, run id) of a tsloop model this suite already trained in ``folder``, else None.
    A model saved before its policy head was calibrated (``tsloop.model.policy.calibrate``, which
    training now runs) is calibrated here on ``task``'s validation part, at its training's stride,
    so a re-score reads support as a model trained today would."""
    from torch.utils.data import DataLoader

    from tsloop.forecaster import Forecaster
    from tsloop.model.policy import calibrate

    if MODELS.get(name) is None or not (folder / "model.pt").is_file() or not record.is_file():
        return None
    run_id = json.loads((folder / "run.json").read_text())["run_id"] if (folder / "run.json").is_file() else None
    forecaster = Forecaster.from_bundle_path(folder / "model.pt")
    policy = forecaster.model.policy
    if task is not None and policy is not None and not policy.is_calibrated:
        stride = forecaster.meta.get("train_config", {}).get("val_stride", 1)
        calibration = calibrate(forecaster.model, DataLoader(task.dataset("val", stride=stride), batch_size=256))
        print(f"{folder.name}: policy head calibrated on {sum(calibration.count)} validation steps", flush=True)
    return forecaster, json.loads(record.read_text())["budget"], run_id


def _params(obj) -> int:
    if isinstance(obj, nn.Module):
        return sum(p.numel() for p in obj.parameters())
    state = obj.get("state_dict", {}) if isinstance(obj, dict) else {}
    return int(sum(v.numel() for v in state.values() if torch.is_tensor(v)))
