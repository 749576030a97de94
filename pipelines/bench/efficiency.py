"""Benchmark suite 6, efficiency: is looping one shared block worth it against unshared models?

On EPF NP (``tasks/epf_np.yaml``, 168 -> 24, the bench protocol) five models are trained with
the same wall-clock budget and early stopping on validation:

- ``looped``: the default shared block, T = max(1, Poisson(mu = 8)) in training, T = 8 at test;
- ``unshared8``: an unshared stack of round(mu) = 8 blocks of the same width (same effective
  depth, the same FLOPs and about the same latency per window, ~3.8x the parameters);
- ``unshared8_narrow``: the same stack at matched parameters (d_model 32, f_hidden 56);
- ``wide1``: one unshared block (``looped=False``) with f_hidden 1216, at matched FLOPs per window;
- ``looped_wide``: the looped block widened to the unshared stack's parameters (d_model 140).

Each is scored on every test window (MSE, MAE, CRPS of the bench's ``metrics``) with its
parameters, matmul FLOPs per window (``torch.utils.flop_counter``), the latency of one forward
pass over a batch of 64 windows on one thread, and the optimiser steps its budget bought. The
looped model is then run at T = 1 … 24 loops (no exit) and with the early-exit rules of
``tsloop/model/exit.py``: mean loops used against the change in MSE relative to T = 8. The
learned gate is fitted after training on the frozen model with the library's own gate loss.

Usage::

    python -m pipelines.bench.efficiency                 # train the five models, then measure
    python -m pipelines.bench.efficiency --stage eval    # measure the saved models again
    python -m pipelines.bench.efficiency --stage sizes   # params / FLOPs / latency only, untrained

Results: ``pipelines/bench/results/efficiency.json``; models under ``outputs/bench/efficiency/``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from pipelines.bench.data import LEVELS, metrics
from pipelines.bench.stability import load_model, train_variant
from tsloop.output import atomic_path

VARIANTS = {  # name -> ModelConfig overrides on the 'small' preset
    "looped": {},
    "unshared8": {"shared": False},
    "unshared8_narrow": {"shared": False, "d_model": 32, "f_hidden": 56},
    "wide1": {"looped": False, "f_hidden": 1216},
    "looped_wide": {"d_model": 140, "f_hidden": 280},
}
LOOPS = tuple(range(1, 25))
EXIT_RULES = (  # (rule, eps or tau)
    ("delta", 0.1), ("delta", 0.03), ("delta", 0.01), ("delta", 0.003),
    ("second_diff", 0.03), ("second_diff", 0.01), ("second_diff", 0.003),
    ("gate", 0.5), ("gate_cdf", 0.5), ("gate_cdf", 0.9),
)
OUT = Path("outputs/bench/efficiency")
RESULTS = Path("pipelines/bench/results/efficiency.json")


# ------------------------------------------------------------------ compute measures
def count_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def flops_per_call(fn, *args, **kwargs) -> int:
    """Matmul-class FLOPs (mm, addmm, bmm, einsum, ...) of one call, from ``FlopCounterMode``.

    Counted with grad mode on: the counter's module tracker fails under ``no_grad`` (torch 2.x).
    Elementwise ops (activations, norms, adds) are not counted.
    """
    from torch.utils.flop_counter import FlopCounterMode

    with torch.enable_grad(), FlopCounterMode(display=False) as counter:
        fn(*args, **kwargs)
    return int(counter.get_total_flops())


@torch.no_grad()
def latencies(calls: dict, repeats: int = 15, warmup: int = 2) -> dict[str, dict[str, float]]:
    """Wall time of each zero-argument call in ms (median, min), interleaved so load hits all alike."""
    times = {name: [] for name in calls}
    for rep in range(warmup + repeats):
        for name, call in calls.items():
            t0 = time.perf_counter()
            call()
            if rep >= warmup:
                times[name].append(1000 * (time.perf_counter() - t0))
    return {name: {"median_ms": statistics.median(t), "min_ms": min(t)} for name, t in times.items()}


# ------------------------------------------------------------------ prediction
def set_exit(model, rule: str, eps: float | None = None) -> None:
    """Switch the eval-time exit rule of a trained model (config and the core's ExitRule alike)."""
    model.cfg.exit_rule = rule
    ex = model.core.exit
    ex.rule = rule
    if eps is not None:
        if rule.startswith("gate"):
            ex.tau = eps
        else:
            ex.eps = eps


@torch.no_grad()
def predict(model, loader, depth: int | None = None) -> tuple[np.ndarray, np.ndarray, float]:
    """Quantiles (N, H, C, 9) on the bench grid, median point (N, H, C), and mean loops used."""
    pick = [model.cfg.quantile_index(lv) for lv in LEVELS]
    chunks, loops, n = [], 0.0, 0
    for batch in loader:
        out = model(batch, depth=depth)
        chunks.append(out.quantiles[..., pick].numpy())
        b = batch["past_target"].shape[0]
        loops, n = loops + out.loops_used * b, n + b
    q = np.sort(np.concatenate(chunks), axis=-1)
    return q, q[..., 4], loops / n


def fit_gate(model, loader, steps: int = 150, lr: float = 1e-2, seed: int = 0) -> dict:
    """Give a trained model a learned exit gate, fitted on its frozen loop traces.

    The library's gate reads z detached and its loss (expected certified error + price per loop,
    minus entropy) only reaches the gate's weights, so training it jointly or afterwards differs
    only in which states it sees: here the final model's, with Poisson(mu) depths as in training.
    """
    from tsloop.model.core import LoopRun

    torch.manual_seed(seed)
    cfg = model.cfg
    model.core.exit.gate = nn.Linear(cfg.d_model, 1)
    model.requires_grad_(False)
    model.core.exit.gate.requires_grad_(True)
    opt = torch.optim.Adam(model.core.exit.gate.parameters(), lr=lr)
    coefs = model.core.coefficients(update=False)
    losses, it = [], iter(loader)
    for _ in range(steps):
        try:
            batch = next(it)
        except StopIteration:
            it = iter(loader)
            batch = next(it)
        b = batch["past_target"].shape[0]
        depths = torch.poisson(torch.full((b,), float(cfg.mean_depth))).long().clamp(1, cfg.max_depth)
        run = LoopRun(depths, 0, False, coefs, train_gate=True)
        normed = model.normalise(batch)[0]
        h0 = model.encode(normed, run)
        model.imagine(h0, normed, run)
        loss = torch.stack(run.gate_losses).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    model.requires_grad_(True)
    return {"gate_steps": steps, "gate_loss_first": losses[0], "gate_loss_last": float(np.mean(losses[-10:]))}


def _scores(q, point, truth) -> dict:
    return metrics(point, truth, q)


def measure(task, trained: dict, loop_stride: int, gate_steps: int) -> dict:
    """Main table for every model; loop sweep and exit rules for the looped one."""
    test = task.dataset("test")
    truth = np.stack([test[i]["future_target"].numpy() for i in range(len(test))])
    loader = torch.utils.data.DataLoader(test, batch_size=512, shuffle=False)
    sub_idx = list(range(0, len(test), loop_stride))
    sub = torch.utils.data.Subset(test, sub_idx)
    sub_loader = torch.utils.data.DataLoader(sub, batch_size=512, shuffle=False)
    probe = torch.utils.data.default_collate([test[i] for i in range(0, 64 * 50, 50)])  # 64 windows
    models = {name: load_model(rec["bundle"]) for name, rec in trained.items()}
    for model in models.values():
        set_exit(model, "none")
    rows = {}
    for name, model in models.items():
        depth = model.cfg.fixed_depth
        t0 = time.time()
        q, point, loops = predict(model, loader, depth)
        rows[name] = {**_scores(q, point, truth), "predict_s": time.time() - t0, "loops": loops,
                      "params": count_params(model), "core_params": count_params(model.core),
                      "mflops_per_window": flops_per_call(model, probe, depth=depth) / 64 / 1e6,
                      **{k: trained[name][k] for k in ("steps", "fit_s", "budget_s", "best_val_loss")},
                      "seed": trained[name]["seed"], "overrides": VARIANTS[name.split("@")[0]]}
        print(name, json.dumps(rows[name]), flush=True)
    calls = {name: (lambda m=m: m(probe, depth=m.cfg.fixed_depth)) for name, m in models.items()}
    for name, lat in latencies(calls).items():
        rows[name]["latency64_ms"] = lat["median_ms"]
        rows[name]["latency64_min_ms"] = lat["min_ms"]
    result = {"rows": rows, "test_windows": len(test), "sweep_windows": len(sub_idx), "sweep_stride": loop_stride}
    if "looped" not in models:
        return result
    model = models["looped"]
    sub_truth = truth[sub_idx]
    sweep = []
    for loops in LOOPS:
        t0 = time.time()
        q, point, used = predict(model, sub_loader, loops)
        sweep.append({"T": loops, **_scores(q, point, sub_truth), "loops": used, "s": time.time() - t0})
        print("T", loops, json.dumps(sweep[-1]), flush=True)
    result["loop_sweep"] = sweep
    ref = next(r for r in sweep if r["T"] == model.cfg.fixed_depth)
    train_loader = torch.utils.data.DataLoader(task.dataset("train", stride=7), batch_size=64, shuffle=True,
                                               generator=torch.Generator().manual_seed(0))
    result["gate_fit"] = fit_gate(model, train_loader, steps=gate_steps)
    exits = []
    for rule, eps in EXIT_RULES:
        set_exit(model, rule, eps)
        t0 = time.time()
        q, point, used = predict(model, sub_loader)
        s = _scores(q, point, sub_truth)
        exits.append({"rule": rule, "eps_or_tau": eps, "max_loops": model.cfg.max_depth, "loops": used,
                      "loops_saved_vs_T8": 1 - used / ref["loops"], **s,
                      "mse_change_vs_T8": s["mse"] / ref["mse"] - 1, "s": time.time() - t0})
        print("exit", json.dumps(exits[-1]), flush=True)
    set_exit(model, "none")
    result["exit_rules"] = exits
    return result


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from tsloop.plots import save_figure

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    sweep = result.get("loop_sweep", [])
    axes[0].plot([r["T"] for r in sweep], [r["mse"] for r in sweep], "o-", ms=3, label="looped, T loops")
    for name, row in result["rows"].items():
        if name != "looped":
            axes[0].axhline(row["mse"], ls="--", lw=0.8, label=f"{name} (all windows)",
                            color=f"C{list(result['rows']).index(name)}")
    axes[0].set_xlabel("test-time loops T"); axes[0].set_ylabel(f"test MSE (sweep: every {result['sweep_stride']}th window)")
    axes[0].legend(fontsize=6)
    ex = result.get("exit_rules", [])
    for rule in sorted({r["rule"] for r in ex}):
        pts = [r for r in ex if r["rule"] == rule]
        axes[1].plot([r["loops"] for r in pts], [r["mse"] for r in pts], "o", label=rule)
    axes[1].plot([r["loops"] for r in sweep], [r["mse"] for r in sweep], "k-", lw=0.8, label="fixed T")
    axes[1].set_xlabel("mean loops used"); axes[1].set_ylabel("test MSE"); axes[1].legend(fontsize=6)
    fig.tight_layout()
    save_figure(fig, path, dpi=80)


def log_mlflow(result: dict) -> None:
    from tsloop.tracking.record import log_result

    for name, row in result["rows"].items():
        sweep = {"sweep/mse": [(r["T"], r["mse"]) for r in result.get("loop_sweep", [])]} if name == "looped" else None
        log_result("bench", f"efficiency/{name}", tags={"suite": "efficiency", "variant": name},
                   params={**row["overrides"], "budget_s": row["budget_s"]},
                   metrics={k: v for k, v in row.items() if k != "budget_s"}, history=sweep)


def sizes(spec) -> dict:
    """Params, FLOPs and latency of untrained models (to choose the matched configurations)."""
    from tsloop.data.batch import empty_batch
    from tsloop.model import ModelConfig
    from tsloop.model.world_model import WorldModel

    batch = empty_batch(spec.dims, 64, spec.context_length, spec.horizon)
    gen = torch.Generator().manual_seed(0)
    batch = {k: torch.randn(v.shape, generator=gen) if v.is_floating_point() and "mask" not in k else v
             for k, v in batch.items()}
    models = {}
    for name, overrides in VARIANTS.items():
        cfg = ModelConfig.preset("small", dims=spec.dims, context_length=spec.context_length,
                                 horizon=spec.horizon, **overrides)
        models[name] = WorldModel(cfg).eval()
    out = {name: {"params": count_params(m),
                   "mflops_per_window": flops_per_call(m, batch, depth=m.cfg.fixed_depth) / 64 / 1e6}
           for name, m in models.items()}
    lat = latencies({name: (lambda m=m: m(batch, depth=m.cfg.fixed_depth)) for name, m in models.items()})
    for name in out:
        out[name]["latency64_ms"] = lat[name]["median_ms"]
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--stage", choices=("all", "train", "eval", "sizes"), default="all")
    p.add_argument("--budget-s", type=float, default=200.0, help="training wall-clock cap per model")
    p.add_argument("--variants", default=",".join(VARIANTS))
    p.add_argument("--loop-stride", type=int, default=4, help="every n-th test window for the loop/exit sweeps")
    p.add_argument("--gate-steps", type=int, default=150)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-mlflow", action="store_true")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    os.environ.setdefault("OMP_NUM_THREADS", "1")

    from tsloop.data.task import load_task
    from tsloop.model import ModelConfig

    t_start = time.time()
    task = load_task("tasks/epf_np.yaml")
    spec = task.spec
    if args.stage == "sizes":
        print(json.dumps(sizes(spec), indent=1))
        return 0
    names = args.variants.split(",")
    registry = OUT / "trained.json"
    trained = json.loads(registry.read_text()) if registry.is_file() else {}
    if args.stage in ("all", "train"):
        for base in names:
            name = base if args.seed == 0 else f"{base}@s{args.seed}"  # other seeds: extra rows
            cfg = ModelConfig.preset("small", dims=spec.dims, context_length=spec.context_length,
                                     horizon=spec.horizon, **VARIANTS[base])
            trained[name] = train_variant(task, name.replace("@", "_"), cfg, args.budget_s, OUT, seed=args.seed,
                                          limit_train_batches=200, val_stride=4)
            with atomic_path(registry) as tmp:
                tmp.write_text(json.dumps(trained, indent=1))
            print(f"trained {name}: {trained[name]['steps']} steps in {trained[name]['fit_s']:.0f} s", flush=True)
    if args.stage == "train":
        return 0
    result = measure(task, {n: trained[n] for n in names}, args.loop_stride, args.gate_steps)
    result.update(task="tasks/epf_np.yaml", preset="small", wall_s=time.time() - t_start)  # this invocation
    if RESULTS.is_file():  # measuring a subset (e.g. another seed's rows) keeps the other entries
        previous = json.loads(RESULTS.read_text())
        result = {**previous, **result, "rows": {**previous.get("rows", {}), **result["rows"]}}
    with atomic_path(RESULTS) as tmp:
        tmp.write_text(json.dumps(result, indent=1))
    plot(result, RESULTS.parent / "plots" / "efficiency.png")
    if not args.no_mlflow:
        log_mlflow(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
