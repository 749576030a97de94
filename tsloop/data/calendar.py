"""Calendar features: known-future channels computed from the timestamp, never read from the data.

Daily and weekly cycles drive most telemetry, and they are known for every future step. A
rollout driven by nothing but constants (a task without known-future inputs) relaxes to the
fixed point of a contraction, which is a flat forecast; a clock in the drive lets it follow
the cycle. Each feature is a sine/cosine pair, so midnight sits next to 23:00. A task file asks
for them with ``calendar: [hour, weekday]``, which adds the known-future channels
``calendar.hour_sin``, ``calendar.hour_cos``, ... Example::

    >>> import numpy as np, pandas as pd
    >>> time_ns = pd.to_datetime(["2024-01-01 00:00", "2024-01-01 06:00", "2024-01-01 23:00"]).asi8
    >>> calendar_columns(["hour"])
    ['calendar.hour_sin', 'calendar.hour_cos']
    >>> values = calendar_values(["hour"], time_ns)             # column -> (N,) float64
    >>> values["calendar.hour_sin"].round(2), values["calendar.hour_cos"].round(2)
    (array([ 0.  ,  1.  , -0.26]), array([1.  , 0.  , 0.97]))
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# name -> (what it measures, period in its own unit, function of a DatetimeIndex -> position in the period)
FEATURES = {
    "minute": ("minute of the hour", 60.0, lambda t: t.minute + t.second / 60.0),
    "hour": ("hour of the day", 24.0, lambda t: t.hour + t.minute / 60.0),
    "weekday": ("day of the week", 7.0, lambda t: t.dayofweek + t.hour / 24.0),
    "month": ("day of the year", 365.25, lambda t: t.dayofyear - 1 + t.hour / 24.0),
}
PREFIX = "calendar."


def calendar_columns(names: list[str]) -> list[str]:
    """Channel names of the features, in order: calendar.<name>_sin, calendar.<name>_cos per name."""
    return [f"{PREFIX}{name}_{part}" for name in names for part in ("sin", "cos")]


def calendar_values(names: list[str], time_ns: np.ndarray) -> dict[str, np.ndarray]:
    """Feature values at timestamps (nanoseconds since the epoch): column -> (N,) float64 in [-1, 1]."""
    index = pd.DatetimeIndex(np.asarray(time_ns, dtype="datetime64[ns]"))
    out = {}
    for name in names:
        _, period, position = FEATURES[name]
        angle = 2.0 * np.pi * np.asarray(position(index), dtype=np.float64) / period
        out[f"{PREFIX}{name}_sin"], out[f"{PREFIX}{name}_cos"] = np.sin(angle), np.cos(angle)
    return out
