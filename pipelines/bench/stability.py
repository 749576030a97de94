"""Benchmark suite 5, stability: latent norm and error over 1 … 10,000 imagined outer steps.

Three models are trained on the same simulated plant task with the same budget — the default
(constrained core, Jacobian penalty on), ``constrained=False`` and ``jacobian_weight=0`` — plus
the first two with a longer budget (``*_long``), and each is rolled forward in imagination (no observations, the logged known-future inputs and plan
as drive) for 10,000 outer steps (80,000 five-minute steps, ~278 days) from test-part origins.
Per horizon it reports ||h_k|| (median, max over windows, running max), the decoded median's
MSE against the simulated truth and against an hour-of-day climatology, non-finite counts, and
each model's certified bound, state bound and power-iteration Lipschitz estimates.

Usage::

    python -m pipelines.bench.stability                  # train the five models, then measure
    python -m pipelines.bench.stability --stage eval     # measure the saved models again
    python -m pipelines.bench.stability --budget-s 60 --horizons 1,10,100   # a quick look

Results: ``pipelines/bench/results/stability.json``; models under ``outputs/bench/stability/``;
MLflow experiment ``bench``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from tsloop.model.embed import PLAN_KEYS
from tsloop.output import atomic_path

HORIZONS = (1, 10, 100, 1000, 10000)  # outer steps (one outer step = patch_len time steps)
VARIANTS = {  # name -> ModelConfig overrides
    "default": {},
    "unconstrained": {"constrained": False},
    "no_jacobian": {"jacobian_weight": 0.0},
    "default_long": {},  # the *_long variants train for --long-budget-s: does the free core drift out of contraction?
    "unconstrained_long": {"constrained": False},
}
PLANT = {  # a long simulated fleet: 12,000 train rows per series, then 86,000 test rows (> 10,000 patches)
    "name": "plant_stability",
    "source": {"loader": "plant", "series": 4, "steps": 100_000, "seed": 1, "confounding": 1.0},
    "format": "long", "timestamp": "timestamp", "series_id": "series", "freq": "5min",
    "target": ["cpu_util", "queue_depth", "latency_p95", "power_kw", "inlet_temp", "error_rate"],
    "past_exog": ["request_rate", "outdoor_temp"],
    "known_future": ["temp_forecast", "hour_sin", "hour_cos", "dow_sin", "dow_cos"],
    "intervention": ["replicas", "cooling_setpoint", "rate_limit"],
    "event": ["slo_breach", "thermal_trip"],
    "static": ["capacity", "thermal_tau_min", "heat_gain", "idle_power_kw"],
    "transforms": {"queue_depth": "log1p", "latency_p95": "log1p", "error_rate": "log", "request_rate": "log1p"},
    "context_length": 96, "horizon": 48,
    "split": {"boundaries": [12_000, 14_000, 100_000]},
}
OUT = Path("outputs/bench/stability")
RESULTS = Path("pipelines/bench/results/stability.json")


# ------------------------------------------------------------------ training (shared with efficiency)
def train_variant(task, name: str, cfg, budget_s: float, out_root: Path, seed: int = 0,
                  limit_train_batches: int = 100, val_stride: int = 8, patience: int = 3) -> dict:
    """Fit one model under the bench budget (wall-clock cap, early stopping on val); its record."""
    from tsloop.train.config import TrainConfig
    from tsloop.tracking.training import fit_and_record

    tc = TrainConfig(max_epochs=100, max_time_s=budget_s, batch_size=64, patience=patience, seed=seed,
                     limit_train_batches=limit_train_batches, val_stride=val_stride, progress_bar=False)
    out_dir = out_root / name
    t0 = time.time()
    result = fit_and_record(task, cfg, tc, out_dir=out_dir, experiment="bench",
                 run_name=f"bench-{task.spec.name}-{name}", tags={"bench": task.spec.name, "variant": name})
    last = out_dir / "checkpoints" / "last.ckpt"
    steps = int(torch.load(last, map_location="cpu", weights_only=True)["global_step"]) if last.is_file() else None
    return {"name": name, "bundle": str(result.bundle_path), "run_id": result.run_id, "fit_s": result.wall_time_s,
            "process_s": time.time() - t0, "steps": steps, "budget_s": budget_s, "seed": seed,
            "limit_train_batches": limit_train_batches, "val_stride": val_stride, "patience": patience,
            "best_val_loss": result.metrics.get("val/loss"), "config": cfg.to_dict()}


def load_model(bundle: str, weights: str = "best"):
    """The trained model of a bundle; ``weights="last"``: the weights at the end of training instead.

    The bundle holds the best-validation checkpoint. Under the deferred-K curriculum the
    validation loss scores a later (harder) horizon patch as training goes on, so "best" can
    be the first epoch's weights; "last" is the model its whole budget bought.
    """
    from tsloop.forecaster import Forecaster

    model = Forecaster.load(bundle).model
    if weights == "last":
        ckpt = torch.load(Path(bundle).parent / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
        model.load_state_dict({k.removeprefix("model."): v for k, v in ckpt["state_dict"].items()})
    return model.eval()


# ------------------------------------------------------------------ measuring
@torch.no_grad()
def long_rollout(model, batch: dict, steps: int, depth: int | None = None, chunk: int = 500) -> dict:
    """Imagine ``steps`` outer steps from each window's context under its future inputs.

    ``batch`` holds a horizon of at least ``steps * patch_len`` rows. Returns the latent norms
    ``norm`` (B, steps + 1) (h_0 first), the per-step median MSE against ``future_target``
    ``mse`` (B, steps) (NaN where the truth is missing or the decoded value is not finite), and
    ``finite`` (B, steps + 1): whether the whole state h_k is finite.
    """
    cfg = model.cfg
    p = cfg.patch_len
    normed, shift, scale = model.normalise(batch)
    b = batch["past_target"].shape[0]
    run = model.new_run(b, depth=depth or cfg.fixed_depth)
    h = model.encode(normed, run)
    # the plan: the first ``steps`` rows of the future inputs, with the context's statics, controls and level
    drive = model.drive_embed.future(normed | {k: normed[k][:, : steps * p] for k in PLAN_KEYS})  # (B, steps, D)
    mid = cfg.median_index
    norms, finite, mses = [h.norm(dim=-1)[:, None]], [torch.isfinite(h).all(-1)[:, None]], []
    for start in range(0, steps, chunk):
        n = min(chunk, steps - start)
        states = model.rollout(h, drive[:, start:start + n], run=run)  # (B, n, D)
        h = states[:, -1]
        norms.append(states.norm(dim=-1))
        finite.append(torch.isfinite(states).all(-1))
        q = model.decode(states)[0][..., mid]  # (B, n * P, Ct) instance units
        point = q * scale + shift
        truth = batch["future_target"][:, start * p:(start + n) * p]
        mask = batch["future_target_mask"][:, start * p:(start + n) * p]
        err = torch.where(mask > 0, (point - truth) ** 2, torch.nan)  # (B, n * P, Ct)
        err = torch.where(torch.isfinite(err) | (mask == 0), err, torch.inf)
        mses.append(err.view(b, n, p * err.shape[-1]).nanmean(-1))
    return {"norm": torch.cat(norms, 1).numpy(), "mse": torch.cat(mses, 1).numpy(),
            "finite": torch.cat(finite, 1).numpy()}


def climatology_mse(truth: np.ndarray, mask: np.ndarray, hours: np.ndarray, table: np.ndarray,
                    patch_len: int) -> np.ndarray:
    """Per-step MSE (B, K) of the hour-of-day climatology ``table`` (S, 24, Ct) as a forecast.

    ``truth``/``mask`` (B, K * P, Ct), ``hours`` (B, K * P) int, each row's series in ``table`` first axis
    broadcast by the caller: ``table`` is already (B, 24, Ct).
    """
    clim = np.take_along_axis(table, hours[..., None].repeat(table.shape[-1], -1), axis=1)  # (B, K * P, Ct)
    err = np.where(mask > 0, (clim - truth) ** 2, np.nan)
    b, t, c = err.shape
    return np.nanmean(err.reshape(b, t // patch_len, patch_len * c), axis=-1)


def summarise(per_step: dict[str, np.ndarray], horizons) -> list[dict]:
    """Rows per horizon k: norms at k and up to k, MSE at k and over the band (k/2, k], non-finite counts."""
    norm, mse, clim, finite = per_step["norm"], per_step["mse"], per_step.get("clim"), per_step["finite"]
    with warnings.catch_warnings():  # all-NaN slices are what a blown-up rollout looks like
        warnings.simplefilter("ignore", RuntimeWarning)
        return [_row(k, norm, mse, clim, finite) for k in horizons if k <= mse.shape[1]]


def _row(k: int, norm, mse, clim, finite) -> dict:
    band = slice(k // 2, k)  # steps (k/2, k], 0-based
    nk = norm[:, k]
    row = {"k": k, "norm_median": _f(np.nanmedian(nk)), "norm_max": _f(np.nanmax(nk)),
           "norm_running_max": _f(np.nanmax(norm[:, : k + 1])),
           "nonfinite_windows": int((~finite[:, k]).sum()),
           "nonfinite_states_upto_k": int((~finite[:, : k + 1]).sum()),
           "mse_k": _f(_finite_mean(mse[:, k - 1])), "mse_band": _f(_finite_mean(mse[:, band])),
           "nonfinite_mse_upto_k": int((~np.isfinite(mse[:, :k])).sum())}
    if clim is not None:
        row["clim_mse_k"] = _f(np.nanmean(clim[:, k - 1]))
        row["clim_mse_band"] = _f(np.nanmean(clim[:, band]))
        ok = row["mse_band"] is not None and row["clim_mse_band"]
        row["ratio_band"] = _f(row["mse_band"] / row["clim_mse_band"]) if ok else None
    return row


def _finite_mean(x: np.ndarray) -> float:
    x = np.asarray(x, dtype=np.float64)
    if np.isinf(x).any():
        return math.inf
    return float(np.nanmean(x)) if np.isfinite(x).any() else math.nan


def _f(x) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else (None if math.isnan(x) else (1e308 if x > 0 else -1e308))


def hour_table(task, series: np.ndarray) -> np.ndarray:
    """Hour-of-day mean of each target over the train rows, per series: (len(series), 24, Ct) scaled units."""
    import pandas as pd

    out = []
    for s in range(len(task.series)):
        end = task.parts(s)["train"].end
        hours = pd.to_datetime(task.series[s].time[:end]).hour.to_numpy()
        values = task.scaled[s].values["target"][:end]
        out.append(np.stack([values[hours == h].mean(0) for h in range(24)]))
    return np.stack(out)[series]


def stability_numbers(model, batch: dict) -> dict:
    """Certified inner-step bound, state radius, and power-iteration sigma of inner/outer steps."""
    from tsloop.model import stability

    lip = stability.estimate_lipschitz(model, batch)
    coefs = model.core.coefficients(update=False)
    return {"certified_inner": stability.certified_bound(model), "state_bound": _f(stability.state_bound(model)),
            "sigma_inner": lip["inner"], "sigma_outer": lip["outer"],
            "retention_max": max(float(c.retention.detach().abs().max()) for c in coefs),
            "gamma": max(float(c.gamma.detach().abs()) for c in coefs)}


def measure(task, record: dict, horizons, windows_per_series: int, origin_stride: int) -> dict:
    """Roll one trained model for max(horizons) outer steps from test origins and summarise."""
    import pandas as pd

    from tsloop.data.windows import WindowDataset

    model = load_model(record["bundle"], weights="last")
    cfg = model.cfg
    steps = max(horizons)
    span = steps * cfg.patch_len
    index = []
    for s in range(len(task.series)):
        first = task.parts(s)["test"].start - cfg.context_length  # context may reach back into val, as in the split
        for j in range(windows_per_series):
            start = first + j * origin_stride
            assert start + cfg.context_length + span <= len(task.series[s]), "series too short for the horizon"
            index.append((s, start))
    index = np.asarray(index)
    data = WindowDataset(task.scaled, index, cfg.context_length, span)
    batch = torch.utils.data.default_collate([data[i] for i in range(len(data))])
    t0 = time.time()
    per_step = long_rollout(model, batch, steps)
    rollout_s = time.time() - t0
    hours = np.stack([pd.to_datetime(task.series[s].time[st + cfg.context_length: st + cfg.context_length + span]).hour
                      for s, st in index])
    per_step["clim"] = climatology_mse(batch["future_target"].numpy(), batch["future_target_mask"].numpy(),
                                       hours, hour_table(task, index[:, 0]), cfg.patch_len)
    short = {k: v[:64, : cfg.context_length + cfg.horizon] if v.dim() > 1 else v[:64] for k, v in batch.items()}
    probe = {k: (v[:, : cfg.horizon] if k.startswith("future") else v) for k, v in short.items()}
    return {"windows": len(index), "rollout_s": rollout_s, "depth": cfg.fixed_depth, "weights": "last.ckpt",
            "stability": stability_numbers(model, probe), "horizons": summarise(per_step, horizons),
            "curve": _curve(per_step)}


def _curve(per_step: dict) -> dict:
    """Median latent norm and mean MSE at log-spaced steps, for the plot."""
    n = per_step["mse"].shape[1]
    ks = np.unique(np.round(np.logspace(0, math.log10(n), 40)).astype(int))
    return {"k": ks.tolist(), "norm_median": [_f(np.nanmedian(per_step["norm"][:, k])) for k in ks],
            "mse": [_f(_finite_mean(per_step["mse"][:, k - 1])) for k in ks],
            "clim_mse": [_f(np.nanmean(per_step["clim"][:, k - 1])) for k in ks]}


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from tsloop.plots import save_figure

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    for name, entry in result["models"].items():
        c = entry["curve"]
        axes[0].plot(c["k"], [v if v is not None else np.nan for v in c["norm_median"]], label=name)
        axes[1].plot(c["k"], [v if v is not None else np.nan for v in c["mse"]], label=name)
    first = next(iter(result["models"].values()))["curve"]
    axes[1].plot(first["k"], first["clim_mse"], "k--", label="climatology")
    for ax, title in zip(axes, ("median ||h_k||", "MSE of median (scaled)")):
        ax.set_xscale("log"); ax.set_yscale("log"); ax.set_xlabel("imagined outer step k"); ax.set_title(title)
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, path, dpi=80)


def log_mlflow(result: dict) -> None:
    from tsloop.tracking.record import log_result

    for name, entry in result["models"].items():
        flat = {f"stability/{k}": v for k, v in entry["stability"].items() if v is not None}
        for row in entry["horizons"]:
            for key in ("norm_median", "norm_max", "mse_band", "clim_mse_band"):
                if row.get(key) is not None and abs(row[key]) < 1e300:
                    flat[f"k{row['k']}/{key}"] = row[key]
        log_result("bench", f"stability/{name}", tags={"suite": "stability", "variant": name}, metrics=flat,
                   params={k: v for k, v in entry["train"].items() if k in ("budget_s", "seed", "steps")})


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--stage", choices=("all", "train", "eval"), default="all")
    p.add_argument("--budget-s", type=float, default=150.0, help="training wall-clock cap per model")
    p.add_argument("--long-budget-s", type=float, default=540.0, help="cap for the *_long variants")
    p.add_argument("--patience", type=int, default=1000,
                   help="early-stopping patience; the default never stops: val loss moves with the curriculum")
    p.add_argument("--variants", default=",".join(VARIANTS))
    p.add_argument("--horizons", default=",".join(map(str, HORIZONS)))
    p.add_argument("--windows-per-series", type=int, default=8)
    p.add_argument("--origin-stride", type=int, default=700, help="rows between origins of one series")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-mlflow", action="store_true")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    os.environ.setdefault("OMP_NUM_THREADS", "1")

    from tsloop.data.spec import TaskSpec
    from tsloop.data.task import load_task
    from tsloop.model import ModelConfig

    t_start = time.time()
    task = load_task(TaskSpec.from_dict(PLANT))
    spec = task.spec
    names = args.variants.split(",")
    registry = OUT / "trained.json"
    trained = json.loads(registry.read_text()) if registry.is_file() else {}
    if args.stage in ("all", "train"):
        for name in names:
            cfg = ModelConfig.preset("small", dims=spec.dims, context_length=spec.context_length,
                                     horizon=spec.horizon, **VARIANTS[name])
            budget = args.long_budget_s if name.endswith("_long") else args.budget_s
            trained[name] = train_variant(task, name, cfg, budget, OUT, seed=args.seed, patience=args.patience)
            current = json.loads(registry.read_text()) if registry.is_file() else {}  # another process may have added one
            with atomic_path(registry) as tmp:
                tmp.write_text(json.dumps({**current, name: trained[name]}, indent=1))
            print(f"trained {name}: {trained[name]['steps']} steps in {trained[name]['fit_s']:.0f} s", flush=True)
    if args.stage == "train":
        return 0
    horizons = [int(h) for h in args.horizons.split(",")]
    result = {"task": PLANT, "horizons": horizons, "preset": "small", "models": {}}
    if RESULTS.is_file():  # measuring a subset of the variants keeps the others' entries
        previous = json.loads(RESULTS.read_text())
        if previous.get("horizons") == horizons:
            result["models"] = previous["models"]
    for name in names:
        entry = measure(task, trained[name], horizons, args.windows_per_series, args.origin_stride)
        entry["train"] = {k: v for k, v in trained[name].items() if k != "config"}
        entry["measured_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        result["models"][name] = entry
        print(name, json.dumps(entry["stability"]), flush=True)
        for row in entry["horizons"]:
            print("  ", json.dumps(row), flush=True)
    result["wall_s"] = time.time() - t_start  # of this invocation only
    with atomic_path(RESULTS) as tmp:
        tmp.write_text(json.dumps(result, indent=1))
    plot(result, RESULTS.parent / "plots" / "stability.png")
    if not args.no_mlflow:
        log_mlflow(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
