"""Peers run here (not quoted): seasonal naive, ridge, fracast zero-shot, neuralforecast, GluonTS DeepAR.

Each ``run_<name>(task, suite, seed)`` returns ``point`` (N, H, C) and optionally ``quantiles``
(N, H, C, 9 levels of ``data.LEVELS``) for the stride-1 test windows (or ``eval_stride``), plus
timings and the hyperparameters used. All inputs are the task's scaled values.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
from scipy.stats import norm

from pipelines.bench.data import LEVELS, series_frame, windows


def _timed(fn, *args, **kwargs):
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


_VAL_CLOCK: list[tuple[float, int, float]] = []  # (seconds since fit start, optimiser step, val loss)
_FIT_STEPS: dict[str, int] = {}  # "steps": optimiser steps when training ended


def _val_clock(callback_base, metric: str):
    """A Lightning callback noting when each validation ended and its loss (module-level, so copies share it).

    ``callback_base`` is the Callback class of the Lightning the peer uses (neuralforecast imports
    ``pytorch_lightning``, GluonTS ``lightning.pytorch``).
    """
    _VAL_CLOCK.clear()
    _FIT_STEPS.clear()

    class ValClock(callback_base):
        def on_fit_start(self, trainer, pl_module):
            _VAL_CLOCK.clear()
            ValClock.start = time.perf_counter()

        def on_validation_end(self, trainer, pl_module):
            value = trainer.callback_metrics.get(metric)
            if value is not None and not trainer.sanity_checking:
                _VAL_CLOCK.append((time.perf_counter() - ValClock.start, int(trainer.global_step), float(value)))

        def on_train_end(self, trainer, pl_module):
            _FIT_STEPS["steps"] = int(trainer.global_step)

    return ValClock()


def _best_val() -> dict:
    """Time and step of the lowest validation loss the clock saw, and the optimiser steps training ran."""
    steps = _FIT_STEPS.get("steps")
    if not _VAL_CLOCK:
        return {"best_s": None, "best_step": None, "validations": 0, "steps": steps}
    t, step, _ = min(_VAL_CLOCK, key=lambda r: r[2])
    return {"best_s": t, "best_step": step, "validations": len(_VAL_CLOCK), "steps": steps}


def _whatif_plans(test: dict) -> list[np.ndarray]:
    """Two plans for one window: the known-future inputs as given, and with channel 0 raised by 1 std."""
    plan = test["future_known"][:1].copy()
    raised = plan.copy()
    raised[..., 0] += 1.0
    return [plan, raised]


# ------------------------------------------------------------------ seasonal naive
def run_naive(task, suite, seed):
    test = windows(task, "test")
    out = {}
    for season in sorted({suite.season, 168 if task.spec.context_length >= 168 else suite.season}):
        past = test["past_target"][:, -season:]
        reps = int(np.ceil(task.spec.horizon / season))
        out[season] = np.concatenate([past] * reps, axis=1)[:, : task.spec.horizon]
    return {"point": out[suite.season], "extra_points": {f"naive_{s}": p for s, p in out.items()},
            "fit_s": 0.0, "hparams": {"season": suite.season}}


# ------------------------------------------------------------------ ridge (direct, multi-output)
def _design(w: dict) -> np.ndarray:
    parts = [w["past_target"], w["past_exog"], w["past_known"], w["future_known"]]
    return np.concatenate([p.reshape(len(p), -1) for p in parts], axis=1)


def run_ridge(task, suite, seed):
    from sklearn.linear_model import Ridge

    start = time.perf_counter()
    train, val, test = (windows(task, part) for part in ("train", "val", "test"))
    H, C = train["future_target"].shape[1:]
    xt, yt = _design(train), train["future_target"].reshape(len(train["start"]), -1)
    xv, yv = _design(val), val["future_target"]
    best = None
    for alpha in (0.1, 1.0, 10.0, 100.0, 1000.0, 10000.0):
        model = Ridge(alpha=alpha).fit(xt, yt)
        err = float(np.mean((model.predict(xv).reshape(yv.shape) - yv) ** 2))
        if best is None or err < best[0]:
            best = (err, alpha, model)
    _, alpha, model = best
    sigma = (model.predict(xv).reshape(yv.shape) - yv).std(axis=0)  # (H, C) val residual spread
    fit_s = time.perf_counter() - start
    point, predict_s = _timed(lambda: model.predict(_design(test)).reshape(-1, H, C))
    quantiles = point[..., None] + sigma[..., None] * norm.ppf(LEVELS)
    out = {"point": point, "quantiles": quantiles, "fit_s": fit_s, "predict_s": predict_s,
           "params": int(model.coef_.size + model.intercept_.size),
           "hparams": {"alpha (chosen on val MSE)": alpha, "grid": "1e-1..1e4",
                       "inputs": "past targets+exog+known, future known", "crps": "Gaussian, val residual std per (h, c)"}}
    if test["future_known"].shape[-1]:
        one = {k: v[:1] for k, v in test.items()}
        rng = np.random.default_rng(seed)

        def query():
            for plan in _whatif_plans(test):
                one["future_known"] = plan
                mu = model.predict(_design(one)).reshape(1, H, C)
                _ = mu + sigma * rng.standard_normal((100, 1, H, C))
        query()
        out["whatif_ms"] = 1000 * min(_timed(query)[1] for _ in range(5))
    return out


# ------------------------------------------------------------------ fracast (zero-shot, bundled weights)
def run_fracast(task, suite, seed, eval_stride=None):
    from fracast import FracastModel

    eval_stride = eval_stride or suite.subsample  # it pads every context to 2,048 steps: slow on 2 CPU cores
    test = windows(task, "test", eval_stride)
    model, load_s = _timed(FracastModel.from_pretrained)  # the weights inside the wheel; no download
    past = test["past_target"]  # (N, L, C): the same lookback as everyone else
    N, L, C = past.shape
    H = task.spec.horizon
    rows = np.moveaxis(past, 2, 1).reshape(N * C, L)

    def predict():
        return np.concatenate([model.forecast_batch(rows[i : i + 256], horizon=H) for i in range(0, len(rows), 256)])

    q, predict_s = _timed(predict)  # (N*C, H, 9) at 0.1..0.9
    q = np.moveaxis(q.reshape(N, C, H, -1), 1, 2)
    assert np.allclose(model.quantiles, LEVELS)
    return {"point": q[..., 4], "quantiles": np.sort(q, axis=-1), "eval_stride": eval_stride, "fit_s": 0.0, "load_s": load_s,
            "predict_s": predict_s, "params": sum(p.numel() for p in model.core.parameters())
            + sum(p.numel() for p in model.head.parameters()),
            "hparams": {"weights": "bundled w8 (fracast 0.1.0)", "context": f"last {L} steps (same lookback)",
                        "exogenous": "none (univariate, channel-independent)"}}


# ------------------------------------------------------------------ neuralforecast
def _nf_frame(task):
    """Long frame: one unique_id per target channel; exogenous columns copied to each."""
    f = series_frame(task)
    end = f["parts"]["test"].end
    spec = task.spec
    time_index = pd.to_datetime(f["time"][:end])
    frames = []
    for c, name in enumerate(spec.target):
        d = {"unique_id": name, "ds": time_index, "y": f["target"][:end, c]}
        d.update({f"px{j}": f["past_exog"][:end, j] for j in range(f["past_exog"].shape[1])})
        d.update({f"fk{j}": f["known_future"][:end, j] for j in range(f["known_future"].shape[1])})
        frames.append(pd.DataFrame(d))
    return pd.concat(frames, ignore_index=True), f


def run_nf(task, suite, seed, name="NHITS", scaler_type="identity"):
    import neuralforecast.models as nfm
    import pytorch_lightning
    from neuralforecast import NeuralForecast

    df, f = _nf_frame(task)
    spec = task.spec
    L, H, C = spec.context_length, spec.horizon, len(spec.target)
    hist = [c for c in df.columns if c.startswith("px")]
    futr = [c for c in df.columns if c.startswith("fk")]
    val_size, test_size = f["parts"]["val"].rows, f["parts"]["test"].rows
    common = dict(h=H, input_size=L, max_steps=3000, early_stop_patience_steps=5, val_check_steps=100,
                  learning_rate=1e-3, batch_size=32, scaler_type=scaler_type, random_seed=seed,
                  enable_progress_bar=False, logger=False, enable_model_summary=False,
                  max_time={"seconds": suite.time_cap_s}, hist_exog_list=hist or None, futr_exog_list=futr or None,
                  callbacks=[_val_clock(pytorch_lightning.Callback, "ptl/val_loss")])
    if name == "TSMixerx":
        common.update(n_series=C)
    model = getattr(nfm, name)(**common)
    nf = NeuralForecast(models=[model], freq="h")
    start = time.perf_counter()
    cv = nf.cross_validation(df=df, val_size=val_size, test_size=test_size, n_windows=None, step_size=1, refit=False)
    total_s = time.perf_counter() - start
    cv = cv.sort_values(["unique_id", "cutoff", "ds"])
    point = np.stack([cv[cv.unique_id == c][name].to_numpy().reshape(-1, H) for c in spec.target], axis=-1)
    truth = np.stack([cv[cv.unique_id == c]["y"].to_numpy().reshape(-1, H) for c in spec.target], axis=-1)
    expect = windows(task, "test")["future_target"]
    assert point.shape == expect.shape and np.allclose(truth, expect, atol=1e-5), (point.shape, expect.shape)
    clock = _best_val()
    return {"point": point, "fit_s": total_s, "fit_includes_predict": True, **clock,
            "params": sum(p.numel() for p in model.parameters()),
            "hparams": {k: v for k, v in common.items() if k not in ("enable_progress_bar", "logger", "enable_model_summary", "callbacks")}
            | {"loss": "MAE (neuralforecast default)", "steps_run": clock["steps"]}}


# ------------------------------------------------------------------ GluonTS torch DeepAR
def run_deepar(task, suite, seed, eval_stride=None):
    import lightning.pytorch as pl
    from gluonts.dataset.common import ListDataset
    from gluonts.torch.model.deepar import DeepAREstimator
    from lightning.pytorch.callbacks import EarlyStopping

    pl.seed_everything(seed, verbose=False)
    f = series_frame(task)
    spec = task.spec
    L, H = spec.context_length, spec.horizon
    eval_stride = eval_stride or suite.subsample
    known = f["known_future"]  # past-only exog are not usable by DeepAR (it needs them over the horizon)
    lags = [1, 2, 3, 4, 5, 6, 7, 23, 24, 25, 47, 48, 49] + ([72, 96] if L >= 168 else [])
    context = L - max(lags)  # context + max lag = L: the same lookback as everyone else
    times = pd.to_datetime(f["time"])

    def entries(lo: int, hi: int, c: int, fut: int = 0):
        e = {"start": pd.Period(times[lo], freq="h"), "target": f["target"][lo:hi, c]}
        if known.shape[1]:
            e["feat_dynamic_real"] = known[lo : hi + fut].T
        return e

    parts = f["parts"]
    C = len(spec.target)
    train = ListDataset([entries(0, parts["train"].end, c) for c in range(C)], freq="h")
    val = ListDataset([entries(0, parts["val"].end, c) for c in range(C)], freq="h")
    est = DeepAREstimator(freq="h", prediction_length=H, context_length=context, lags_seq=lags,
                          num_feat_dynamic_real=known.shape[1], batch_size=64, num_batches_per_epoch=100,
                          trainer_kwargs=dict(max_epochs=200, max_time={"seconds": suite.time_cap_s},
                                              enable_progress_bar=False, logger=False, enable_model_summary=False,
                                              callbacks=[EarlyStopping("val_loss", patience=5),
                                                         _val_clock(pl.Callback, "val_loss")]))
    predictor, fit_s = _timed(est.train, train, val)
    test = windows(task, "test")
    s = test["start"][::eval_stride]
    data = ListDataset([entries(int(w), int(w) + L, c, H) for w in s for c in range(C)], freq="h")
    fc, predict_s = _timed(lambda: list(predictor.predict(data)))
    q = np.stack([np.stack([x.quantile(l) for l in LEVELS], -1) for x in fc]).reshape(len(s), C, H, -1)
    q = np.moveaxis(q, 1, 2)
    clock = _best_val()
    out = {"point": q[..., 4], "quantiles": q, "eval_stride": eval_stride, "fit_s": fit_s, "predict_s": predict_s,
           **clock, "params": sum(p.numel() for p in predictor.prediction_net.parameters()),
           "hparams": {"context_length": context, "lags_seq": lags, "batch_size": 64, "num_batches_per_epoch": 100,
                       "early_stopping": "val_loss patience 5", "samples": 100, "distr": "StudentT",
                       "steps_run": clock["steps"],
                       "exogenous": "known-future as feat_dynamic_real" if known.shape[1] else "none"}}
    if known.shape[1]:
        w0 = int(test["start"][0])

        def query():
            plans = []
            for plan in _whatif_plans(test):
                e = entries(w0, w0 + L, 0, H)
                e["feat_dynamic_real"] = e["feat_dynamic_real"].copy()
                e["feat_dynamic_real"][:, L:] = plan[0].T
                plans.append(e)
            list(predictor.predict(ListDataset(plans, freq="h")))
        query()
        out["whatif_ms"] = 1000 * min(_timed(query)[1] for _ in range(5))
    return out
