"""Protocol windows as NumPy arrays, from the task's own split and train-fitted scaler.

Every peer sees the same scaled values and the same test windows (stride 1, in the order of
``task.dataset('test')``). Metrics are on the normalised scale, as the published protocols.

Example::

    suite = SUITES["epf_np"]; task = load_task(suite.task)
    test = windows(task, "test")        # dict: past_target (N, L, Ct), future_target (N, H, Ct) ...
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from tsloop.data import split as splits

LEVELS = np.round(np.arange(1, 10) / 10, 2)  # common quantile grid for CRPS: 0.1 .. 0.9


@dataclass(frozen=True)
class Suite:
    task: str  # task file
    season: int  # seasonal-naive period, steps
    published: dict  # model -> (MSE, MAE), quoted from the papers
    time_cap_s: int = 240  # training wall-clock cap per neural model
    subsample: int = 24  # stride of the subsample used for expensive sampling peers


SUITES = {
    "epf_np": Suite("tasks/epf_np.yaml", 24, {"TimeXer": (0.236, 0.268)}),
    "epf_pjm": Suite("tasks/epf_pjm.yaml", 24, {"TimeXer": (0.093, 0.192)}),
    "epf_be": Suite("tasks/epf_be.yaml", 24, {"TimeXer": (0.379, 0.243)}),
    "epf_fr": Suite("tasks/epf_fr.yaml", 24, {"TimeXer": (0.385, 0.208)}),
    "etth1_M": Suite("tasks/etth1_M.yaml", 24, {"TimeXer": (0.382, 0.403), "iTransformer": (0.386, 0.405)}, 150),
    "etth1_MS": Suite("tasks/etth1_MS.yaml", 24, {}, 150),
    # the same with hour-of-day and day-of-week known-future inputs, for every model (TSLib passes time marks too)
    "etth1_M_cal": Suite("tasks/etth1_M_cal.yaml", 24, {"TimeXer": (0.382, 0.403), "iTransformer": (0.386, 0.405)}, 150),
    "etth1_MS_cal": Suite("tasks/etth1_MS_cal.yaml", 24, {}, 150),
}
ROLE_KEYS = {"target": "target", "past_exog": "exog", "known_future": "known"}


def suite_for(name_or_task: str) -> tuple[str, Suite]:
    """A named suite, or an ad-hoc one for any single-series task file (``--task my.yaml``): its name is
    the task's ``name``; seasonal naive repeats the last day when the frequency is hourly or finer, else
    the last horizon."""
    if name_or_task in SUITES:
        return name_or_task, SUITES[name_or_task]
    from tsloop.data.spec import TaskSpec

    spec = TaskSpec.from_yaml(name_or_task)
    steps_per_day = {"1h": 24, "30min": 48, "15min": 96, "10min": 144, "5min": 288, "1min": 1440}.get(spec.freq)
    season = steps_per_day or spec.horizon
    return spec.name, Suite(name_or_task, min(season, spec.context_length), {})


def starts(task, part: str, stride: int = 1) -> np.ndarray:
    """First rows of the part's windows (single-series tasks)."""
    return splits.window_starts(task.parts(0)[part], task.spec, stride)


def windows(task, part: str, stride: int = 1) -> dict[str, np.ndarray]:
    """Scaled window arrays of one part: past_* (N, L, C), future_* (N, H, C), start (N,)."""
    L, H = task.spec.context_length, task.spec.horizon
    s = starts(task, part, stride)
    values = task.scaled[0].values
    out = {"start": s}
    for role, key in ROLE_KEYS.items():
        full = sliding_window_view(values[role], L + H, axis=0)[s]  # (N, C, L + H)
        full = np.ascontiguousarray(np.moveaxis(full, 1, 2))  # (N, L + H, C)
        out[f"past_{key}"], out[f"future_{key}"] = full[:, :L], full[:, L:]
    return out


def series_frame(task) -> dict[str, np.ndarray]:
    """The whole scaled series per role (n, C), the timestamps, and the part bounds."""
    values = task.scaled[0].values
    return {
        "time": task.series[0].time,
        **{role: values[role] for role in ROLE_KEYS},
        "parts": task.parts(0),
    }


def metrics(point: np.ndarray, truth: np.ndarray, quantiles: np.ndarray | None = None) -> dict[str, float]:
    """MSE, MAE of ``point`` (N, H, C); CRPS as 2 x mean pinball over LEVELS of ``quantiles`` (N, H, C, 9)."""
    from tsloop import metrics as m

    out = {"mse": m.mse(point, truth), "mae": m.mae(point, truth)}
    if quantiles is not None:
        out["crps"] = m.crps_quantiles(quantiles, LEVELS, truth)
        out["cover80"] = m.coverage(truth, quantiles[..., 0], quantiles[..., -1])
    return out
