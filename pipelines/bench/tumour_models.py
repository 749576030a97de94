"""The learned peers of the tumour suite: tsloop (a step budget, or the first runs' time cap) and ridge.

Both read the same windows (`tumour_data.CohortArrays`: 15 days of log volume and treatments,
the patient type, the 6 days of treatments ahead) and predict V[t+1..t+6] for a query's plans.

Example::

    fitted = fit_tsloop(task, preset="small", steps=2000, seed=0, run_name="tumour/tsloop_whatif/g4/s10",
                        out_dir=Path("outputs/bench/tumour/tsloop_whatif_g4_s10"), whatif=True)
    volumes = tsloop_volumes(fitted.model, test_arrays, scale, query)     # (R, 6)
    ridge = Ridge.fit(train_arrays, val_arrays)
    volumes = ridge.volumes(test_arrays, scale, query)
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from pipelines.bench.tumour_data import CONTEXT, STEPS, CohortArrays, LogScale, Query, WindowTensors

CHUNK = 4096  # rows per inference chunk
POINT_GCOMP = "control members' mean of log volume on the median-draw G-computation path"


# ------------------------------------------------------------------------------------ tsloop
class TumourWindowsTask:
    """What `tsloop.train.fit.fit` reads from a task, over patient-split tumour windows.

    The task schema cannot express a split by patient, so train/val windows come from the
    benchmark's own train and val cohorts (every origin t = 0 .. length - 2).
    """

    def __init__(self, gamma: float, seed: int, train: CohortArrays, val: CohortArrays, scale: LogScale):
        from tsloop.data.spec import TaskSpec

        self.spec = TaskSpec.from_dict({
            "name": f"tumour_g{gamma:g}_s{seed}_bench", "source": {"loader": "tumour", "gamma": gamma, "seed": seed},
            "format": "long", "timestamp": "timestamp", "series_id": "series", "freq": "step",
            "target": ["log_volume_z"], "intervention": ["chemo_previous_day", "radio_previous_day"],
            "static": ["patient_type"], "context_length": CONTEXT, "horizon": STEPS,
            "split": {"fractions": [0.7, 0.1, 0.2]},
        })
        self.scale = scale
        self.parts = {"train": WindowTensors(train.windows(*train.origins())),
                      "val": WindowTensors(val.windows(*val.origins()))}

    @property
    def scaler(self):  # the bundle stores the global log scale in place of the per-series scaler
        return _PlainDict({"kind": "tumour_log_volume", "mu": self.scale.mu, "sd": self.scale.sd})

    def dataset(self, part: str = "train", stride: int = 1):
        return self.parts[part]

    def fingerprint(self) -> str:
        digest = hashlib.sha256()
        for part in ("train", "val"):
            for key in ("past_target", "future_target", "future_control"):
                digest.update(self.parts[part].tensors[key].numpy().tobytes())
        return digest.hexdigest()


@dataclass
class _PlainDict:
    values: dict

    def to_dict(self) -> dict:
        return dict(self.values)


@dataclass
class Fitted:
    model: torch.nn.Module
    run_id: str | None
    fit_s: float
    best_s: float | None
    params: int
    hparams: dict = field(default_factory=dict)


def fit_tsloop(task: TumourWindowsTask, *, preset: str, seed: int, run_name: str, out_dir: Path,
               steps: int | None = None, time_cap_s: float | None = None, whatif: bool = False,
               overrides: dict | None = None, train: dict | None = None) -> Fitted:
    """Train tsloop on the task's windows, with early stopping on val.

    ``steps`` is an optimizer-step budget (validation 10 times over it, the library's default);
    ``time_cap_s`` a wall-clock cap with a check every 200 batches (how the first runs of this
    suite trained). ``whatif`` builds the model as ``ModelConfig.for_task`` does for any task with
    interventions (G-computation rollouts, policy head, one step per patch: ``WHATIF_DEFAULTS``);
    without it, the bare size preset.
    """
    from tsloop.bundle import Bundle
    from tsloop.model import ModelConfig
    from tsloop.model.world_model import WorldModel
    from tsloop.tracking.training import fit_and_record
    from tsloop.train.config import TrainConfig

    if (steps is None) == (time_cap_s is None):
        raise ValueError("give exactly one of steps (an optimizer-step budget) and time_cap_s")
    overrides = dict(overrides or {})
    if whatif:
        cfg = ModelConfig.for_task(preset, task.spec, **overrides)
    else:
        cfg = ModelConfig.preset(preset, dims=task.spec.dims, context_length=CONTEXT, horizon=STEPS, **overrides)
    # a step budget trains as `tsloop train` does (TrainConfig's patience and validation); the time-capped
    # first runs kept the other suites' settings of the time (patience 3, a check every 200 batches)
    budget = ({"max_steps": steps, "max_time_s": None, "max_epochs": 10_000} if steps is not None else
              {"max_steps": None, "max_time_s": time_cap_s, "max_epochs": 100, "limit_train_batches": 200, "patience": 3})
    config = TrainConfig(**{**budget, "batch_size": 64, "seed": seed, "progress_bar": False, **(train or {})})
    # params and the model file only: the fan chart and pyfunc model read a per-series scaler,
    # which these patient-split windows do not have
    result = fit_and_record(task, cfg, config, out_dir=out_dir, experiment="bench", plots=False, pyfunc=False,
                            run_name=run_name, tags={"bench": "tumour"})
    best, last = Path(result.best_checkpoint), out_dir / "checkpoints" / "last.ckpt"
    best_s = (result.wall_time_s - (os.path.getmtime(last) - os.path.getmtime(best))
              if best.is_file() and last.is_file() else None)
    model = WorldModel(cfg)
    model.load_state_dict(Bundle.load(result.bundle_path).state_dict)
    hparams = {"preset": preset, "whatif_defaults": whatif, **overrides,
               **{k: getattr(config, k) for k in ("max_steps", "max_epochs", "max_time_s", "batch_size", "patience",
                                                  "limit_train_batches", "seed", "limit_val_batches")},
               "optimizer_steps": result.steps, "threads": result.threads,
               "point": POINT_GCOMP if cfg.rollout == "gcomp" else "median (q0.5) of log volume",
               "best_val_loss": result.metrics.get("val/loss")}
    return Fitted(model.eval(), result.run_id, result.wall_time_s, best_s,
                  sum(p.numel() for p in model.parameters()), hparams)


def load_tsloop(path: Path) -> torch.nn.Module:
    """A saved tsloop model (the bundle `fit_tsloop` wrote), in eval mode."""
    from tsloop.bundle import Bundle
    from tsloop.model import ModelConfig
    from tsloop.model.world_model import WorldModel

    bundle = Bundle.load(path)
    model = WorldModel(ModelConfig.from_dict(bundle.model_config))
    model.load_state_dict(bundle.state_dict)
    return model.eval()


@torch.no_grad()
def tsloop_volumes(model, arrays: CohortArrays, scale: LogScale, q: Query) -> np.ndarray:
    """Point volumes V[t+1..t+6] (R, STEPS) under each row's controls.

    Rows sharing an origin share one context: it is encoded once (`encode`), and every plan is
    then rolled from that state. An open-loop model imagines the plan and decodes (the same
    computation as `model(batch)`). A G-computation model (`rollout` gcomp, the default for tasks
    with interventions) is rolled as its sampler rolls it (`gcomp_from`), on the path that draws
    each day's median and observes it, once per control member; the point is the members' mean
    of log volume.
    """
    from tsloop.model.sampling import gcomp_from

    mid = model.cfg.median_index
    gcomp = model.cfg.rollout == "gcomp"
    members = model.cfg.control_members if gcomp else 1
    member_of = lambda m, n: torch.full((n,), m, dtype=torch.long) if members > 1 else None  # noqa: E731
    keys = q.patient.astype(np.int64) * 1000 + q.origin
    unique, inverse = np.unique(keys, return_inverse=True)
    out = np.empty((len(q), STEPS))
    for start in range(0, len(unique), CHUNK):
        sel = np.arange(start, min(start + CHUNK, len(unique)))
        batch = arrays.windows(unique[sel] // 1000, unique[sel] % 1000)
        norm, shift, spread = model.normalise(batch)
        h0 = [model.encode(dict(norm, member=member_of(m, len(sel))), model.new_run(len(sel)))  # (U, D) per member
              for m in range(members)]
        rows = np.nonzero((inverse >= sel[0]) & (inverse <= sel[-1]))[0]
        local = torch.as_tensor(inverse[rows] - sel[0])
        for r0 in range(0, len(rows), CHUNK):
            part, idx = rows[r0 : r0 + CHUNK], local[r0 : r0 + CHUNK]
            plan = {"future_known": torch.zeros(len(part), STEPS, 0),
                    "future_control": torch.as_tensor(q.control[part], dtype=torch.float32),
                    "future_control_mask": torch.ones(len(part), STEPS, 2),
                    "static": batch["static"][idx],
                    # aligned models act the last context controls inside the first future patch
                    "past_control": batch["past_control"][idx], "past_control_mask": batch["past_control_mask"][idx]}
            if gcomp:
                context = {k: v[idx] for k, v in norm.items() if torch.is_tensor(v) and v.shape[:1] == (len(sel),)}
                median = torch.full((len(part), STEPS, model.cfg.target + model.cfg.event), 0.5)
                quant = torch.stack([gcomp_from(model, {**context, **plan, "member": member_of(m, len(part))},
                                                h0[m][idx], median)[0] for m in range(members)]).mean(0)
            else:
                h = model.imagine(h0[0][idx], plan, model.new_run(len(part)))
                quant = model.decode(h)[0][:, :STEPS, :, mid]  # (R, STEPS, 1)
            z = quant * spread[idx] + shift[idx]
            out[part] = z[..., 0].numpy()
    return scale.to_volume(out)


# ------------------------------------------------------------------------------------ ridge
def ridge_features(arrays: CohortArrays, patient: np.ndarray, origin: np.ndarray,
                   future_control: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Features (R, F) of the same window inputs, the origin's z (R,), and the z targets (R, STEPS).

    History enters relative to today's log volume (so the fit is shift-invariant in log V, like
    tsloop's instance normalisation), with its mask; plus today's z, past and future treatments
    and the one-hot patient type.
    """
    b = arrays.windows(patient, origin, future_control)
    z = b["past_target"][..., 0].numpy()  # (R, L)
    mask = b["past_target_mask"][..., 0].numpy()
    today = z[:, -1]
    rel = (z - today[:, None]) * mask
    onehot = np.eye(3)[arrays.patient_type[patient] - 1]
    x = np.concatenate([rel, mask, today[:, None], b["past_control"].numpy().reshape(len(z), -1),
                        b["future_control"].numpy().reshape(len(z), -1), onehot], axis=1)
    y = np.where(b["future_target_mask"][..., 0].numpy() > 0, b["future_target"][..., 0].numpy(), np.nan)
    return x, today, y


@dataclass
class Ridge:
    """Ridge on the window features, one output per horizon step, target z[t+k] - z[t]; alpha on val MSE."""

    coef: np.ndarray  # (F + 1, STEPS)
    alpha: float
    fit_s: float

    ALPHAS = (1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0, 1000.0)

    @classmethod
    def fit(cls, train: CohortArrays, val: CohortArrays) -> "Ridge":
        start = time.perf_counter()
        x, today, y = ridge_features(train, *train.origins())
        xv, today_v, yv = ridge_features(val, *val.origins())
        x, xv = np.c_[x, np.ones(len(x))], np.c_[xv, np.ones(len(xv))]
        best = None
        for alpha in cls.ALPHAS:
            coef = _ridge_solve(x, y - today[:, None], alpha)
            err = np.nanmean((xv @ coef + today_v[:, None] - yv) ** 2)
            if best is None or err < best[0]:
                best = (err, alpha, coef)
        return cls(best[2], best[1], time.perf_counter() - start)

    def volumes(self, arrays: CohortArrays, scale: LogScale, q: Query) -> np.ndarray:
        out = np.empty((len(q), STEPS))
        for s in range(0, len(q), 8 * CHUNK):
            part = slice(s, s + 8 * CHUNK)
            x, today, _ = ridge_features(arrays, q.patient[part], q.origin[part], q.control[part])
            out[part] = np.c_[x, np.ones(len(x))] @ self.coef + today[:, None]
        return scale.to_volume(out)


def _ridge_solve(x: np.ndarray, y: np.ndarray, alpha: float) -> np.ndarray:
    """Per output column, least squares with an L2 penalty (not on the intercept) over its observed rows."""
    penalty = alpha * np.eye(x.shape[1])
    penalty[-1, -1] = 0.0
    coef = np.empty((x.shape[1], y.shape[1]))
    for k in range(y.shape[1]):
        ok = np.isfinite(y[:, k])
        coef[:, k] = np.linalg.solve(x[ok].T @ x[ok] + penalty, x[ok].T @ y[ok, k])
    return coef
