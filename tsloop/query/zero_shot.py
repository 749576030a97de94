"""Zero-shot forecasts from a pretrained model: any frame, any target columns, no task file.

The pretrained model is univariate (``pipelines/pretrain/train.py``), so each target column of
each series is forecast on its own (channel-independent) and the answers are put back side by
side; sample paths of two channels are drawn independently. What the model reads:

* **history**: the last ``context_length`` rows of each series. A shorter history is left-padded
  with missing (masked) values, as the model saw in pretraining; at least
  :func:`min_history` rows must be observed.
* **no covariates**: other columns, and known-future values, are not read.
* **horizon**: up to the model's own in one pass; a longer one is rolled forward one model
  horizon at a time, the median of each pass appended to the history as if observed (as
  Chronos does). Later passes are then conditioned on the median path, so their bands leave out
  the uncertainty of the earlier passes and are too narrow; at most ``MAX_PASSES`` passes.
* **scaling**: each series is standardised by its own history (and forecasts clipped to its
  history's range widened by ``range_margin`` widths, as for task models).

Example (a tiny untrained univariate model: it shows the calls, its numbers mean nothing)::

    >>> import numpy as np, pandas as pd
    >>> from tsloop.data.batch import ChannelDims
    >>> from tsloop.model import ModelConfig, WorldModel
    >>> model = WorldModel(ModelConfig.preset("tiny", dims=ChannelDims(target=1), context_length=32, horizon=8))
    >>> history = pd.DataFrame({"ts": pd.date_range("2024-01-01", periods=20, freq="h"),
    ...                         "load": np.arange(20.0), "temp": np.ones(20)})
    >>> result = zero_shot_forecast(model.eval(), history, ["load", "temp"], timestamp="ts", horizon=12,
    ...                             num_samples=10)
    >>> result.samples.shape                 # (samples, series, horizon, targets): 20 rows padded to 32, 2 passes
    (10, 1, 12, 2)
    >>> str(result.timestamps[0][0])         # the hourly step was read from the timestamps
    '2024-01-01 20:00:00'
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pandas as pd

from tsloop.data.readers import Frame, SeriesData, load_table, series_rows, split_series
from tsloop.data.scaling import StandardScaler
from tsloop.data.spec import TaskSpec
from tsloop.data.validate import check_magnitudes, check_time
from tsloop.errors import DataError, SpecError
from tsloop.query.forecast import forecast
from tsloop.query.loading import RANGE_MARGIN
from tsloop.query.results import DEFAULT_LEVELS, NUM_SAMPLES, ForecastResult

NAME = "zero-shot"  # the request's task name in messages
MAX_PASSES = 10  # a horizon is at most this many model horizons
SERIES, TIME, VALUE = "series", "timestamp", "value"  # columns of the univariate request frame


def min_history(cfg) -> int:
    """Observed rows a series needs: two patches (the model reads the history patch by patch)."""
    return max(2, 2 * cfg.patch_len)


def zero_shot_forecast(
    model,
    history: Frame,
    target: str | list[str],
    *,
    timestamp: str = "timestamp",
    series_id: str | None = None,
    horizon: int | None = None,
    freq: str | None = None,
    quantiles=DEFAULT_LEVELS,
    num_samples: int = NUM_SAMPLES,
    seed: int = 0,
    range_margin: float | None = RANGE_MARGIN,
) -> ForecastResult:
    """Forecast ``target`` columns of ``history`` with a univariate (pretrained) model.

    ``series_id``: the column naming each series of a long frame (None: one series).
    ``horizon``: steps to forecast (default the model's). ``freq``: the step between rows,
    e.g. '15min', '1h' or 'step' (default: the most common step in the timestamps).
    """
    cfg = model.cfg
    if cfg.target != 1 or cfg.dims.width("known_future") or cfg.dims.width("intervention"):
        raise SpecError("zero-shot forecasts need a univariate pretrained model (one target, no covariates); "
                        "a model trained for a task forecasts with Forecaster.forecast / `tsloop forecast` as it is.")
    targets = [target] if isinstance(target, str) else list(target)
    if not targets:
        raise SpecError("name at least one target column to forecast (--target COLUMN).")
    horizon = cfg.horizon if horizon is None else horizon
    passes = math.ceil(horizon / cfg.horizon) if isinstance(horizon, int) and horizon > 0 else 0
    if not 1 <= passes <= MAX_PASSES:
        raise SpecError(
            f"horizon {horizon!r}: give a whole number of steps from 1 to {MAX_PASSES * cfg.horizon} ({MAX_PASSES} "
            f"times the model's horizon of {cfg.horizon}; beyond its own horizon the forecast is rolled forward "
            "on its median, and bands grow too narrow the further it goes)."
        )
    spec = request_spec(history, targets, timestamp, series_id, freq, cfg.context_length, cfg.horizon)
    table = load_table(spec, history)
    series = split_series(spec, table)
    for item in series:
        check_time(spec, table, item)
        check_magnitudes(spec, table, item)
        _check_observed(spec, item, cfg)
    frame = univariate_frame(spec, series, cfg.context_length)
    uspec = TaskSpec(name=NAME, target=[VALUE], freq=spec.freq, context_length=cfg.context_length,
                     horizon=cfg.horizon, timestamp=TIME, series_id=SERIES)
    useries = split_series(uspec, load_table(uspec, frame))
    scaler = StandardScaler.fit(uspec, useries, [len(item) for item in useries])
    results = []
    for k in range(passes):
        result = forecast(model, uspec, scaler, frame, None, quantiles=quantiles, num_samples=num_samples,
                          seed=seed + k, range_margin=range_margin)
        results.append(result)
        if k + 1 < passes:  # feed the median back as if observed
            median = np.median(result.samples[..., 0], axis=0)  # (B, H)
            frame = pd.concat([frame, _rows(result, median)], ignore_index=True)
    return _assemble(results, series, targets, horizon, tuple(quantiles))


def request_spec(history: Frame, targets: list[str], timestamp: str, series_id: str | None, freq: str | None,
                 context_length: int, horizon: int) -> TaskSpec:
    """The request as a task spec of the target columns; ``freq`` read from the timestamps when None."""
    spec = TaskSpec(name=NAME, target=targets, freq=freq or "1h", context_length=context_length, horizon=horizon,
                    timestamp=timestamp, series_id=series_id)
    return spec if freq else replace(spec, freq=infer_freq(spec, history))


def infer_freq(spec: TaskSpec, history: Frame) -> str:
    """The most common step between consecutive timestamps of a series: '1h', '15min', ... or
    'step' for an integer time index."""
    try:
        table = load_table(spec, history)
    except DataError as err:
        try:  # whole numbers: an integer time index
            table = load_table(replace(spec, freq="step"), history)
        except DataError:
            raise err from None
    steps = np.concatenate([np.diff(table.time[rows]) for rows in series_rows(table)])
    steps = steps[steps > 0]
    if not len(steps):
        raise DataError(f"cannot tell the step between rows of the history from its timestamps (column "
                        f"{spec.timestamp!r}: no series has two different times). Pass more rows, or the "
                        "frequency (--freq 1h).")
    values, counts = np.unique(steps, return_counts=True)
    step = int(values[np.argmax(counts)])
    if table.step_index:
        return "step"
    for unit, size in (("d", 86_400), ("h", 3_600), ("min", 60), ("s", 1)):
        if step % (size * 10**9) == 0:
            return f"{step // (size * 10**9)}{unit}"
    return f"{step}ns"


def univariate_frame(spec: TaskSpec, series: list[SeriesData], context_length: int) -> pd.DataFrame:
    """One univariate series per (series, target column), series-major, each left-padded with
    missing values to ``context_length`` rows: columns ``series``, ``timestamp``, ``value``."""
    parts = []
    for s, item in enumerate(series):
        pad = max(0, context_length - len(item))
        time = np.concatenate([item.time[0] - spec.step_ns * np.arange(pad, 0, -1, dtype=np.int64), item.time])
        when = time if spec.is_step_index else pd.to_datetime(time)
        for c in range(len(spec.target)):
            values = np.concatenate([np.full(pad, np.nan), item.values["target"][:, c]])
            parts.append(pd.DataFrame({SERIES: f"{s}/{c}", TIME: when, VALUE: values}))
    return pd.concat(parts, ignore_index=True)


def _check_observed(spec: TaskSpec, item: SeriesData, cfg) -> None:
    need, window = min_history(cfg), item.values["target"][-cfg.context_length :]
    where = f"series {item.series_id!r}" if spec.series_id else "the history"
    if len(item) < need:
        raise DataError(
            f"{where} has {len(item)} row(s); the pretrained model needs at least {need} (it reads up to "
            f"{cfg.context_length}, and pads a shorter history as missing). Pass a longer history."
        )
    for c, column in enumerate(spec.target):
        seen = int(np.isfinite(window[:, c]).sum())
        if seen < need:
            raise DataError(
                f"target column {column!r} of {where} has {seen} observed value(s) in its last "
                f"{len(window)} rows (the rest are empty or NaN); the pretrained model needs at least {need}. "
                "Fill the column, pass a longer history, or leave that column out of --target."
            )


def _rows(result: ForecastResult, median: np.ndarray) -> pd.DataFrame:
    """The median of a pass as request rows, to be appended to the history."""
    return pd.concat([pd.DataFrame({SERIES: sid, TIME: result.timestamps[b], VALUE: median[b]})
                      for b, sid in enumerate(result.series_ids)], ignore_index=True)


def _assemble(results: list[ForecastResult], series: list[SeriesData], targets: list[str], horizon: int,
              levels: tuple) -> ForecastResult:
    """Passes (each (S, B * Ct, H_model, 1), series-major) -> one result (S, B, horizon, Ct)."""
    samples = np.concatenate([r.samples[..., 0] for r in results], axis=2)[:, :, :horizon]  # (S, B*Ct, horizon)
    S, B, Ct = samples.shape[0], len(series), len(targets)
    samples = samples.reshape(S, B, Ct, horizon).transpose(0, 1, 3, 2)  # (S, B, horizon, Ct)
    times = []
    for b in range(B):
        stamps = [r.timestamps[b * Ct] for r in results]
        joined = np.concatenate([np.asarray(t) for t in stamps])[:horizon]
        times.append(joined if isinstance(stamps[0], np.ndarray) else pd.DatetimeIndex(joined))
    return ForecastResult(
        series_ids=[item.series_id for item in series],
        timestamps=times,
        targets=targets,
        events=[],
        samples=samples,
        event_samples=np.zeros((S, B, horizon, 0)),
        event_prob=np.zeros((B, horizon, 0)),
        levels=levels,
    )
