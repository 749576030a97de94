"""Probe one trained model: collect latents, fit probes on train windows, predict test windows.

Example (an untrained tiny model on a small simulated fleet, so the scores are those of noise; a
trained model is ``Forecaster.load(path).model``, and ``task`` may be a task file such as
``pipelines/probe/tasks/plant_probe.yaml``)::

    >>> from tsloop.data.spec import TaskSpec
    >>> from tsloop.model import ModelConfig, WorldModel
    >>> spec = TaskSpec(name="fleet", source={"loader": "plant", "series": 2, "steps": 800, "step_minutes": 15},
    ...                 target=["cpu_util", "latency_p95"], past_exog=["replicas"], event=["slo_breach"],
    ...                 freq="15min", context_length=32, horizon=8, series_id="series")
    >>> model = WorldModel(ModelConfig.for_task("tiny", spec))     # patches of 4 steps
    >>> run = probe_model(model, spec, k_max=4, families=("ridge", "head"), strides=(8, 8, 8),
    ...                   log=lambda line: None)
    >>> run.sizes
    {'train_windows': 130, 'val_windows': 18, 'test_windows': 38}
    >>> table = score_runs([run], ks=(2, 4), reps=20)              # long frame with intervals
    >>> table.columns.tolist()
    ['mode', 'family', 'K', 'steps', 'metric', 'channel', 'mean', 'lo', 'hi', 'seeds']
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from tsloop.probe.latents import ProbeData, collect, probe_task
from tsloop.probe.probes import PROBES
from tsloop.probe.scores import Prediction, Scorer, bootstrap, choose_threshold

FAMILIES = ("ridge", "mlp", "head")  # head = the model's own forecast (decoder + direct path) read at every step (no fitting)


@dataclass
class ProbeRun:
    """Test truth and each (latent mode, probe family)'s predictions and timing thresholds."""

    truth: dict[str, ProbeData]  # mode -> test ProbeData
    predictions: dict[tuple[str, str], Prediction]
    thresholds: dict[tuple[str, str], np.ndarray]  # (mode, family) -> (Ce,)
    targets: list[str]
    events: list[str]
    patch_len: int
    chosen: dict[str, dict] = field(default_factory=dict)  # chosen regularisation, for the record
    sizes: dict[str, int] = field(default_factory=dict)


def _design(d: ProbeData) -> tuple[np.ndarray, dict[str, slice]]:
    """Per-step probe targets (N, K, Q): [patch targets | their detail | patch events], and the groups.

    Targets are relative to the context level (under ``instance_norm`` h_k never sees it; the
    probes get it as an input, see ``ProbeData.features``); ``_unflatten`` adds it back.
    """
    n, k, p = d.shape
    parts = {"dense": d.target - d.level(), "detail": d.detail, "event": d.event}
    cols, start, groups = [], 0, {}
    for name, x in parts.items():
        width = p * x.shape[-1]
        if width:
            groups[name] = slice(start, start + width)
            cols.append(x.reshape(n, k, width))
            start += width
    return np.concatenate(cols, axis=-1), groups


def _unflatten(y: np.ndarray, groups: dict[str, slice], like: ProbeData, task) -> Prediction:
    n, k, p = like.shape
    ct, ce = like.target.shape[-1], like.event.shape[-1]

    def get(name: str, c: int) -> np.ndarray:
        if name not in groups:
            return np.zeros((n, k, p, c))
        return y[..., groups[name]].reshape(n, k, p, c)

    dense = get("dense", ct) + like.level()  # back to the task's scaled units
    raw = task.inverse_transform(dense.reshape(n, k * p, ct), like.series_index).reshape(n, k, p, ct)
    return Prediction(dense=dense, dense_raw=raw, detail=get("detail", ct), event=get("event", ce))


def _thresholds(pred: Prediction, val: ProbeData) -> np.ndarray:
    n, k, p = val.shape
    span = (k - 1) * p  # the intermediate steps of the longest rollout
    s = pred.event.reshape(n, k * p, -1)[:, :span]
    lab = val.event.reshape(n, k * p, -1)[:, :span]
    return np.array([choose_threshold(s[..., c], lab[..., c]) for c in range(s.shape[-1])])


def probe_model(model, task, *, k_max: int = 32, modes: tuple[str, ...] = ("imagined",),
                families: tuple[str, ...] = FAMILIES, strides: tuple[int, int, int] = (64, 32, 32),
                max_windows: int | None = None, seed: int = 0, frame=None, log=print) -> ProbeRun:
    """Fit every probe family on train latents (regularisation on val) and predict test latents."""
    cfg = model.cfg
    task = probe_task(task, cfg.context_length, cfg.patch_len, k_max, frame) if not hasattr(task, "dataset") else task
    truth, preds, thresholds, chosen, sizes = {}, {}, {}, {}, {}
    for mode in modes:
        data = {part: collect(model, task, part, k_max=k_max, stride=stride, mode=mode, max_windows=max_windows)
                for part, stride in zip(("train", "val", "test"), strides)}
        sizes.update({f"{part}_windows": d.shape[0] for part, d in data.items()})
        log(f"  {mode}: latents train/val/test = {[d.shape[0] for d in data.values()]} windows x {k_max} steps")
        truth[mode] = data["test"]
        y = {part: _design(d) for part, d in data.items()}
        groups = y["train"][1]
        binary = ("event",)
        for family in families:
            if family == "head":
                make = lambda d: Prediction(d.head_scaled, d.head_target, d.head_detail, d.head_event)  # noqa: E731
                val_pred, test_pred = make(data["val"]), make(data["test"])
            else:
                probe = PROBES[family](seed=seed) if family == "mlp" else PROBES[family]()
                probe.fit(data["train"].features(), y["train"][0], data["val"].features(), y["val"][0], groups, binary)
                chosen[f"{mode}/{family}"] = {k: np.asarray(v).tolist() for k, v in probe.chosen.items()}
                val_pred = _unflatten(probe.predict(data["val"].features()), groups, data["val"], task)
                test_pred = _unflatten(probe.predict(data["test"].features()), groups, data["test"], task)
            preds[(mode, family)] = test_pred
            thresholds[(mode, family)] = _thresholds(val_pred, data["val"])
    spec = task.spec
    return ProbeRun(truth, preds, thresholds, list(spec.target), list(spec.event), cfg.patch_len, chosen, sizes)


def score_runs(runs: list[ProbeRun], ks: tuple[int, ...], reps: int = 200, seed: int = 0,
               false_alarm: float = 0.01) -> pd.DataFrame:
    """Long table (mode, family, K, metric, channel, mean, lo, hi) over runs = seeds of one model."""
    rows = []
    first = runs[0]
    for key in first.predictions:
        mode = key[0]
        scorers = [Scorer(r.predictions[key], r.truth[mode], ks, r.thresholds[key], false_alarm) for r in runs]
        for (k, metric, c), (mean, lo, hi) in bootstrap(scorers, reps, seed).items():
            names = first.targets if metric.startswith(("dense", "detail")) else first.events
            rows.append(dict(mode=key[0], family=key[1], K=k, steps=(k - 1) * first.patch_len, metric=metric,
                             channel="mean" if c < 0 else names[c], mean=mean, lo=lo, hi=hi, seeds=len(runs)))
    return pd.DataFrame(rows)


def step_curves(runs: list[ProbeRun]) -> pd.DataFrame:
    """Channel-averaged scores of each single latent h_k, mean over seeds (for the plots)."""
    rows = []
    first = runs[0]
    for key in first.predictions:
        mode = key[0]
        per_seed = [Scorer(r.predictions[key], r.truth[mode], (), r.thresholds[key], single_steps=True)
                    for r in runs]
        results = [s(np.ones(s.n)) for s in per_seed]
        frame = pd.DataFrame([dict(k=k, metric=m, value=v) for res in results
                              for (k, m, c), v in res.items() if c < 0])
        frame = frame.groupby(["k", "metric"], as_index=False)["value"].mean().rename(columns={"value": "mean"})
        frame.insert(0, "family", key[1])
        frame.insert(0, "mode", mode)
        rows.append(frame)
    return pd.concat(rows, ignore_index=True)
