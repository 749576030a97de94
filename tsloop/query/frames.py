"""Turn windows of a loaded task back into the frames a user would pass to a query.

Evaluation, plots and the demo ask the public API the same questions a user would,
with history and future frames cut from the task's own data.
"""

from __future__ import annotations

import pandas as pd

from tsloop.data import split as splits
from tsloop.data.readers import SeriesData
from tsloop.data.spec import TaskSpec

FUTURE_ROLES = ("known_future", "intervention")


def series_frame(spec: TaskSpec, item: SeriesData, start: int, stop: int, roles=None) -> pd.DataFrame:
    """Rows [start, stop) of one series as a frame with the spec's column names."""
    time = item.time[start:stop]
    columns: dict[str, object] = {
        spec.timestamp: time.copy() if spec.is_step_index else pd.to_datetime(time),
    }
    if spec.series_id:
        columns[spec.series_id] = [item.series_id] * len(time)
    for role, names in spec.roles.items():
        if roles is not None and role not in roles:
            continue
        block = item.values[role][start:stop]
        for c, name in enumerate(names):
            columns[name] = block[:, c]
    return pd.DataFrame(columns)


def window_frames(task, series_index: int, start: int) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(history, future, truth) of the window whose context begins at row ``start``:
    history = context rows (all roles), future = horizon rows of known-future and intervention
    columns (the logged plan), truth = horizon rows of every column."""
    spec, item = task.spec, task.series[series_index]
    mid, end = start + spec.context_length, start + spec.context_length + spec.horizon
    history = series_frame(spec, item, start, mid)
    future = series_frame(spec, item, mid, end, roles=FUTURE_ROLES)
    truth = series_frame(spec, item, mid, end)
    return history, future, truth


def example_window(task, part: str = "val", series_index: int = 0):
    """The first window of a part for one series (for plots)."""
    start = int(splits.window_starts(task.parts(series_index)[part], task.spec, 1)[0])
    return window_frames(task, series_index, start)


def needs_future(spec: TaskSpec) -> bool:
    return bool(spec.known_future or spec.intervention)
