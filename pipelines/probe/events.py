"""Event columns the probe tasks derive in memory (nothing is copied into the repository).

- EPF price spikes (task names ``epf_*``): ``spike`` = 1 where the price ``OT`` exceeds the 99th
  percentile of the *train part's* prices (the threshold never sees val or test rows).
- NAB anomaly windows (task names ``nab_*``): ``event`` = 1 inside NAB's labelled anomaly windows
  (``labels/combined_windows.json``), instead of the loader's single labelled points.

``task_frame(spec)`` returns the frame to pass to ``load_task(spec, frame)``, or None when the
task needs no derived column. Example::

    spec = TaskSpec.from_yaml("pipelines/probe/tasks/epf_np_probe.yaml")
    task = load_task(spec, task_frame(spec))
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from tsloop.data.paths import require_data_root
from tsloop.data.sources import load_nab
from tsloop.data.spec import TaskSpec
from tsloop.data.split import train_end

SPIKE_QUANTILE = 0.99


def price_spikes(spec: TaskSpec) -> tuple[pd.DataFrame, float]:
    """The EPF frame of ``spec`` with a ``spike`` column, and the threshold (train rows only)."""
    raw = pd.read_csv(spec.resolve_data())
    price = raw["OT"].to_numpy(dtype=float)
    end = train_end(len(raw), spec)  # rows [0, end): the train part
    threshold = float(np.nanquantile(price[:end], SPIKE_QUANTILE))
    return raw.assign(spike=(price > threshold).astype(float)), threshold


def nab_windows(series: str) -> pd.DataFrame:
    """A NAB series on its grid with ``event`` = 1 inside every labelled anomaly window."""
    frame = load_nab(series)
    key = series.removesuffix(".gz").removesuffix(".csv")
    path = require_data_root() / "nab" / "labels" / "combined_windows.json"
    windows = json.loads(path.read_text()).get(f"{key}.csv", [])
    event = np.zeros(len(frame))
    for start, stop in windows:
        event[((frame.timestamp >= pd.Timestamp(start)) & (frame.timestamp <= pd.Timestamp(stop))).to_numpy()] = 1.0
    return frame.assign(event=event)


def task_frame(spec: TaskSpec) -> pd.DataFrame | None:
    """The in-memory frame with the derived event column for ``spec``, or None (read as usual)."""
    if spec.name.startswith("epf_"):
        return price_spikes(spec)[0]
    if spec.name.startswith("nab_"):
        return nab_windows(spec.source["series"])
    return None
