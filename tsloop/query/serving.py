"""One request format for the served model (``mlflow models serve``): forecasts and what-if queries.

The request is a frame (MLflow's ``dataframe_split`` or ``dataframe_records``) and ``params``:

- each series' history rows (at least ``context_length``), then its next ``horizon`` rows with
  the known-future and intervention columns filled in and the targets left empty;
- for a what-if query, a ``plan`` column: empty on history rows, and the horizon rows given once
  per plan, each copy labelled with its plan's name (two or more plans);
- ``params``: ``num_samples`` (default 200, at most MAX_SAMPLES), ``seed`` (0), and for what-if
  ``objective`` (``AGG:CHANNEL[:min|max]``, default: mean of the first target) and ``interval`` (0.9).

The answer is a table. A forecast (no ``plan`` column, or one plan) gives ``ForecastResult.to_frame``.
A what-if gives each plan's forecast rows (``table`` = ``forecast``, with ``plan``) followed by the
effect rows (``table`` = ``effect``: plan_a, plan_b, the effect B - A on the objective with its
interval, P(B better), the model's own ``prob_b_better_model``, each plan's ``support_a`` /
``support_b`` and the pair's ``flag``: see ``WhatIfResult.effects_frame``); cells a row does not
use are null.

A request the model cannot answer raises ``MlflowException`` with INVALID_PARAMETER_VALUE, which the
scoring server returns as HTTP 400 with the message, and goes on serving.
"""

from __future__ import annotations

import math

import pandas as pd

from tsloop.errors import PlanError, TsloopError
from tsloop.query.forecast import forecast, split_frame
from tsloop.query.loading import range_margin
from tsloop.query.results import NUM_SAMPLES
from tsloop.query.whatif import whatif

PLAN_COLUMN = "plan"
MAX_SAMPLES = 2000  # per request: a bound on the memory and time one request can take


def answer(forecaster, frame: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
    """The forecast or what-if table for one request (see the module docstring).

    ``forecaster``: anything with ``model``, ``spec`` and ``scaler`` (a ``Forecaster``, or the
    ``query.loading.Loaded`` bundle the pyfunc model holds)."""
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

    try:
        return _answer(forecaster, frame, params or {})
    except TsloopError as err:  # bad input: the client's to fix, not a server fault
        raise MlflowException(f"tsloop could not answer this request: {err}",
                              error_code=INVALID_PARAMETER_VALUE) from None


def _answer(forecaster, frame: pd.DataFrame, params: dict) -> pd.DataFrame:
    num_samples = _integer(params, "num_samples", NUM_SAMPLES, 1, MAX_SAMPLES)
    seed = _integer(params, "seed", 0, 0, 2**31 - 1)
    m = forecaster
    margin = m.range_margin if hasattr(m, "range_margin") else range_margin(getattr(m, "meta", {}))
    if not isinstance(frame, pd.DataFrame) or frame.empty:
        raise PlanError("the request holds no rows; send each series' history followed by its next horizon rows "
                        "(as dataframe_split or dataframe_records)")
    labels = frame[PLAN_COLUMN] if PLAN_COLUMN in frame.columns else pd.Series(None, index=frame.index, dtype=object)
    labelled = labels.notna() & (labels.astype(str).str.strip() != "")
    names = list(dict.fromkeys(labels[labelled].astype(str)))
    rows = frame.drop(columns=[PLAN_COLUMN], errors="ignore")
    if len(names) <= 1:  # a plain forecast, or a forecast under the one plan given
        history, future = split_frame(m.spec, rows)
        return forecast(m.model, m.spec, m.scaler, history, future, num_samples=num_samples, seed=seed,
                        range_margin=margin).to_frame()
    history = rows[~labelled]
    spec = forecaster.spec  # a plan holds the horizon's keys and the inputs a plan may set, nothing else
    keep = [spec.timestamp, *([spec.series_id] if spec.series_id else []),
            *spec.data_columns("known_future"), *spec.data_columns("intervention")]
    plan_rows = rows[[c for c in keep if c in rows.columns]]
    plans = {name: plan_rows[labelled & (labels.astype(str) == name)] for name in names}
    interval = _number(params, "interval", 0.9)
    if not 0 < interval < 1:
        raise PlanError(f"params.interval {interval!r}: give the central interval as a fraction in (0, 1), e.g. 0.9")
    objective = params.get("objective") or None
    result = whatif(m.model, m.spec, m.scaler, history, plans, objective=objective, num_samples=num_samples,
                    seed=seed, interval=interval, range_margin=margin)
    table = pd.concat([result.plans_frame().assign(table="forecast"), result.effects_frame().assign(table="effect")],
                      ignore_index=True)
    return table.astype(object).where(table.notna(), None)  # JSON null, not NaN, for cells a row does not use


def _integer(params: dict, key: str, default: int, low: int, high: int) -> int:
    value = params.get(key, default)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise PlanError(f"params.{key} {value!r}: give an integer from {low} to {high}")
    return value


def _number(params: dict, key: str, default: float) -> float:
    value = params.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise PlanError(f"params.{key} {value!r}: give a number")
    return float(value)
