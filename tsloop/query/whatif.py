"""What-if queries: every plan rolled forward with the same random draws, then compared."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from tsloop.data.readers import Frame
from tsloop.data.scaling import StandardScaler
from tsloop.data.spec import TaskSpec, did_you_mean
from tsloop.errors import DataError, PlanError
from tsloop.query import overlap
from tsloop.query.forecast import forecast
from tsloop.query.loading import RANGE_MARGIN
from tsloop.query.objective import Objective, pairwise_effects
from tsloop.query.results import DEFAULT_LEVELS, NUM_SAMPLES, ForecastResult, WhatIfResult


def plan_frame(spec: TaskSpec, name: str, plan: Frame, future: Frame | None) -> pd.DataFrame:
    """The plan's columns over the future frame's; unknown columns are rejected."""
    plan = plan.to_pandas() if hasattr(plan, "to_pandas") else pd.DataFrame(plan)
    keys = [spec.timestamp] + ([spec.series_id] if spec.series_id else [])
    allowed = set(keys) | set(spec.intervention) | set(spec.known_future)
    unknown = [c for c in plan.columns if c not in allowed]
    if unknown:
        raise PlanError(
            f"plan {name!r} has column(s) {unknown} that are not intervention or known-future channels "
            f"of this model (interventions: {spec.intervention}).{did_you_mean(unknown[0], sorted(allowed))} "
            "Remove or rename them."
        )
    missing = [c for c in spec.intervention if c not in plan.columns]
    if missing:
        raise PlanError(
            f"plan {name!r} lacks intervention column(s) {missing}; a plan sets every intervention "
            f"channel ({spec.intervention}) at each of the next {spec.horizon} steps."
        )
    if future is None:
        return plan
    base = future.to_pandas() if hasattr(future, "to_pandas") else pd.DataFrame(future)
    base = base.drop(columns=[c for c in plan.columns if c not in keys], errors="ignore")
    return base.merge(plan, on=keys, how="right")


def whatif(
    model,
    spec: TaskSpec,
    scaler: StandardScaler,
    history: Frame,
    plans: Mapping[str, Frame],
    *,
    future: Frame | None = None,
    objective: str | None = None,
    num_samples: int = NUM_SAMPLES,
    seed: int = 0,
    interval: float = 0.9,
    range_margin: float | None = RANGE_MARGIN,
) -> WhatIfResult:
    """Forecast under each plan with one seed (common random numbers) and compare on ``objective``
    (``AGG:CHANNEL[:min|max]``; default: mean of the first target, lower is better)."""
    if len(plans) < 2:
        raise PlanError(f"a what-if compares at least two plans; got {len(plans)}: {list(plans)}")
    obj = Objective.parse(objective or f"mean:{spec.target[0]}", spec.target, spec.event)
    forecasts = {}
    for name, plan in plans.items():
        merged = plan_frame(spec, name, plan, future)
        try:
            forecasts[name] = forecast(model, spec, scaler, history, merged, quantiles=DEFAULT_LEVELS,
                                       num_samples=num_samples, seed=seed, range_margin=range_margin)
        except (DataError, PlanError) as err:  # name the plan: the data layer cannot
            raise PlanError(f"plan {name!r}: {err}") from None
    return compare(forecasts, obj, interval)


def compare(forecasts: Mapping[str, ForecastResult], objective: Objective, interval: float = 0.9) -> WhatIfResult:
    """Compare forecasts of the same series under each plan on ``objective``: the effect of every
    pair per series, tempered by the plans' support (``tsloop.query.overlap``) when every forecast
    carries ``control_support``; otherwise the model's effects, flagged 'unchecked'. A forecast
    without ``control_mask`` counts every control as set."""
    forecasts = dict(forecasts)
    values = {
        name: np.stack([objective.evaluate(f.paths(b)) for b in range(len(f.series_ids))], axis=1)
        for name, f in forecasts.items()
    }
    support = {}
    if all(f.control_support is not None for f in forecasts.values()):
        support = {
            name: overlap.plan_support(f.control_support, True if f.control_mask is None else f.control_mask)
            for name, f in forecasts.items()
        }
    first = next(iter(forecasts.values()))
    effects = {
        sid: pairwise_effects({n: v[:, b] for n, v in values.items()}, objective, interval,
                              {n: float(s[b]) for n, s in support.items()} if support else None)
        for b, sid in enumerate(first.series_ids)
    }
    return WhatIfResult(forecasts, objective, values, effects, support)
