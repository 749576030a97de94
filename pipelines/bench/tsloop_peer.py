"""tsloop under the benchmark protocol: fit exactly as ``tsloop train`` does by default, then test-window quantiles.

The ``tsloop`` row is what a user gets: ``TrainConfig()`` defaults (a step budget, early stopping on
validation, automatic threads) with only the seed set, and the ``small`` preset that ``tsloop train``
uses. Variants pass their changes explicitly.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import torch

from pipelines.bench.data import LEVELS


def run_tsloop(task, suite, seed, preset="small", out_root="outputs/bench", overrides=None, train=None,
               instance_norm=None, tag=""):
    """Fit tsloop on the suite's task and predict its test windows; ``instance_norm`` overrides the config's."""
    from tsloop.forecaster import Forecaster
    from tsloop.model import ModelConfig
    from tsloop.model.sampling import sample_paths
    from tsloop.train.config import TrainConfig
    from tsloop.tracking.training import fit_and_record

    spec = task.spec
    overrides = dict(overrides or {})
    if instance_norm is not None:
        overrides["instance_norm"] = bool(instance_norm)
    cfg = ModelConfig.preset(preset, dims=spec.dims, context_length=spec.context_length, horizon=spec.horizon,
                             **overrides)
    train = {"seed": seed, "progress_bar": False, **(train or {})}
    tc = TrainConfig(**train)
    train = tc.to_dict()
    out_dir = Path(out_root) / f"{spec.name}_tsloop{tag}_{preset}_s{seed}"
    result = fit_and_record(task, cfg, tc, out_dir=out_dir, experiment="bench", run_name=f"bench-{spec.name}-tsloop",
                 tags={"bench": spec.name})
    best = Path(result.best_checkpoint)
    last = out_dir / "checkpoints" / "last.ckpt"  # written as training ends
    best_s = result.wall_time_s - (os.path.getmtime(last) - os.path.getmtime(best)) if best.is_file() and last.is_file() else None
    model = Forecaster.load(result.bundle_path).model.eval()
    levels = np.asarray(cfg.quantiles)
    pick = [cfg.quantile_index(level) for level in LEVELS]
    assert np.allclose(levels[pick], LEVELS), "the preset's quantile grid must contain 0.1 .. 0.9"

    data = task.dataset("test")
    loader = torch.utils.data.DataLoader(data, batch_size=512, shuffle=False)

    def predict():
        chunks = []
        with torch.no_grad():
            for batch in loader:
                chunks.append(model(batch).quantiles[..., pick].numpy())
        return np.concatenate(chunks)

    t0 = time.perf_counter()
    q = predict()  # (N, H, C, 9)
    predict_s = time.perf_counter() - t0
    out = {"point": q[..., 4], "quantiles": np.sort(q, axis=-1), "fit_s": result.wall_time_s, "best_s": best_s,
           "steps": result.steps, "threads": result.threads,
           "predict_s": predict_s, "params": sum(p.numel() for p in model.parameters()),
           "run_id": result.run_id, "bundle": str(result.bundle_path),
           "hparams": {"preset": preset, **overrides, "instance_norm": cfg.instance_norm, "k_every": cfg.k_every,
                       "deferred": cfg.deferred, "calendar": spec.calendar, **{k: train[k] for k in
                       ("max_epochs", "max_steps", "max_time_s", "batch_size", "patience", "limit_train_batches", "seed")},
                       "steps_run": result.steps,
                       "point": "median (q0.5)", "best_val": result.metrics.get("val/loss")}}
    if spec.known_future:
        one = {k: v[:1] for k, v in next(iter(torch.utils.data.DataLoader(data, batch_size=1))).items()}
        noise = torch.randn(100, 1, spec.horizon, cfg.target + cfg.event, generator=torch.Generator().manual_seed(seed))

        def query():
            for shift in (0.0, 1.0):
                b = dict(one)
                b["future_known"] = one["future_known"].clone()
                b["future_known"][..., 0] += shift
                sample_paths(model, b, 100, noise=noise)
        query()
        times = []
        for _ in range(5):
            t0 = time.perf_counter(); query(); times.append(time.perf_counter() - t0)
        out["whatif_ms"] = 1000 * min(times)
    return out


def run_tsloop_ci(task, suite, seed, **kwargs):
    """Bench-only experiment: channel-independent tsloop (each target channel its own series, shared weights)."""
    import pandas as pd

    from tsloop.data.spec import TaskSpec
    from tsloop.data.task import load_task

    spec, item = task.spec, task.series[0]
    n = task.parts(0)["test"].end
    time_index = pd.to_datetime(item.time[:n])
    frame = pd.concat([pd.DataFrame({"series": name, "date": time_index, "y": item.values["target"][:n, c]})
                       for c, name in enumerate(spec.target)], ignore_index=True)
    ci_spec = TaskSpec.from_dict({"name": f"{spec.name}_ci", "format": "long", "series_id": "series",
                                  "timestamp": "date", "freq": spec.freq, "target": ["y"],
                                  "context_length": spec.context_length, "horizon": spec.horizon,
                                  "split": spec.split, "calendar": spec.calendar})
    ci_task = load_task(ci_spec, frame)
    res = run_tsloop(ci_task, suite, seed, **kwargs)
    per = len(res["point"]) // len(spec.target)  # test windows are ordered series by series
    order = [ci_task.series_ids.index(name) for name in spec.target]  # the task may sort series ids
    for key in ("point", "quantiles"):
        chunks = np.split(res[key][:, :, 0], len(spec.target))
        res[key] = np.stack([chunks[i] for i in order], axis=2)
    res["hparams"]["channel_independent (bench wrapper)"] = True
    assert res["point"].shape[0] == per
    return res
