"""Windows in the batch contract (``tsloop/data/batch.py``): a torch Dataset, and the predict batch.

Each series is scaled once into float32 NumPy arrays; an item is a handful of slices, so
``__getitem__`` does no pandas work. Items are unbatched (``(L, C)``, ``(C,)``, scalar indices);
the default ``DataLoader`` collate stacks them into the contract's ``(B, ...)`` shapes.

Example (a simulated fleet; ``task.dataset`` and ``task.predict_batch`` call these)::

    >>> from torch.utils.data import DataLoader
    >>> from tsloop.data.spec import TaskSpec
    >>> from tsloop.data.task import load_task
    >>> from tsloop.sim.plant import load_plant_frame
    >>> frame = load_plant_frame(series=2, steps=800, step_minutes=15)
    >>> spec = TaskSpec(target=["latency_p95", "cpu_util"], intervention=["replicas"], freq="15min",
    ...                 context_length=32, horizon=8, series_id="series")
    >>> task = load_task(spec, frame=frame)
    >>> loader = DataLoader(task.dataset("train"), batch_size=64, shuffle=True)
    >>> next(iter(loader))["past_target"].shape            # (B, L, Ct)
    torch.Size([64, 32, 2])
    >>> rows = frame.groupby("series")
    >>> history_df = rows.nth(range(700, 732))
    >>> future_df = rows.nth(range(732, 740))[["timestamp", "series", "replicas"]]
    >>> pb = make_predict_batch(spec, task.scaler, history_df, future_df)   # pb.batch: dict, B = series
    >>> pb.series_ids, pb.batch["past_target"].shape
    (['cluster_00', 'cluster_01'], torch.Size([2, 32, 2]))
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset

from tsloop.data.batch import BATCH_KEYS
from tsloop.data.readers import Frame, SeriesData
from tsloop.data.scaling import StandardScaler
from tsloop.data.spec import ROLES, TaskSpec
from tsloop.data.validate import validate_future

# batch key -> (role, time axis, source array) for the sliced keys
_SLICED = {
    key: (role, axis, "mask" if key.endswith("_mask") else "value")
    for key, (axis, role) in BATCH_KEYS.items()
    if axis is not None
}


@dataclass
class ScaledSeries:
    """One series ready for windowing: scaled float32 values, missing values 0 and masked."""

    values: dict[str, np.ndarray]  # role -> (n, C)
    masks: dict[str, np.ndarray]  # 'target', 'intervention' -> (n, C), 1 = observed / given
    static: np.ndarray  # (Cs,)


def scale_series(items: list[SeriesData], scaler: StandardScaler, indices: list[int]) -> list[ScaledSeries]:
    """Scale every role of each series with its train statistics (series ``indices[i]`` of the scaler).

    NaN/inf become 0 with mask 0. All series are scaled in one vectorised pass.
    """
    lengths = [len(item) for item in items]
    rows = np.repeat(np.asarray(indices, dtype=np.int64), lengths)  # scaler series of every row
    cuts = np.cumsum(lengths)[:-1]
    values, masks = {}, {}
    for role in ROLES:
        if role == "static":
            continue
        raw = np.concatenate([item.values[role] for item in items])  # (N, C)
        observed = np.isfinite(raw)
        scaled = scaler.transform(raw, rows, role=role)
        values[role] = np.split(np.where(observed, scaled, 0.0).astype(np.float32), cuts)
        masks[role] = np.split(observed.astype(np.float32), cuts)
    width = items[0].values["static"].shape[1]
    static = np.stack([item.values["static"][0] if len(item) else np.zeros(width) for item in items])
    static = np.nan_to_num(scaler.transform(static, 0, role="static")).astype(np.float32)
    return [
        ScaledSeries({r: values[r][i] for r in values}, {r: masks[r][i] for r in masks}, static[i])
        for i in range(len(items))
    ]


class WindowDataset(Dataset):
    """Windows of L context + H horizon rows; item ``i`` is (series ``index[i, 0]``, start ``index[i, 1]``).

    ``series_index`` is the series' position in the task (and scaler); ``window_start`` is the
    row, within that series, of the window's first context step.
    """

    def __init__(self, series: list[ScaledSeries], index: np.ndarray, context_length: int, horizon: int):
        self.series = series
        self.index = np.asarray(index, dtype=np.int64).reshape(-1, 2)  # (N, 2)
        self.context_length = context_length
        self.horizon = horizon

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        s, start = (int(v) for v in self.index[i])
        item = self.series[s]
        mid, end = start + self.context_length, start + self.context_length + self.horizon
        out = {}
        for key, (role, axis, kind) in _SLICED.items():
            array = item.masks[role] if kind == "mask" else item.values[role]
            rows = array[start:mid] if axis == "past" else array[mid:end]
            out[key] = torch.from_numpy(rows.copy())  # a copy: in-place edits must not reach the cache
        out["static"] = torch.from_numpy(item.static.copy())
        out["series_index"] = torch.tensor(s, dtype=torch.long)
        out["window_start"] = torch.tensor(start, dtype=torch.long)
        return out


@dataclass
class PredictBatch:
    """The batch for one forecast/what-if request (B = series in the request) and where it lands in time."""

    batch: dict[str, torch.Tensor]  # the contract's keys; future_target and its mask are 0
    series_ids: list[str]  # (B,)
    future_time: np.ndarray  # (B, H) int64: ns since the epoch, or step numbers
    step_index: bool

    def timestamps(self) -> list[pd.DatetimeIndex | np.ndarray]:
        """Future timestamps per series, as pandas datetimes (or step numbers for freq 'step')."""
        if self.step_index:
            return [row.copy() for row in self.future_time]
        return [pd.to_datetime(row) for row in self.future_time]


def make_predict_batch(
    spec: TaskSpec, scaler: StandardScaler, history: Frame, future: Frame | None = None
) -> PredictBatch:
    """Validate a request (see :func:`~tsloop.data.validate.validate_future`) and build its batch.

    ``history``: rows of the series up to now, all role columns, at least ``context_length`` per
    series (the last ``context_length`` are used). ``future``: the next ``horizon`` rows of each
    series with the known-future and intervention columns (the plan, for a what-if); may be
    omitted when the task has neither. Series are those of ``future`` (or of ``history``).
    """
    L, H = spec.context_length, spec.horizon
    items = validate_future(spec, history, future)
    rows = []
    for item in items:
        index = scaler.index(item.history.series_id)
        (past,) = scale_series([item.history.tail(L)], scaler, [index])
        entry = {}
        for key, (role, axis, kind) in _SLICED.items():
            if axis == "past":
                entry[key] = (past.masks if kind == "mask" else past.values)[role]
            elif role in item.future:
                given = item.future[role]
                entry[key] = np.ones_like(given) if kind == "mask" else scaler.transform(given, index, role=role)
            else:  # unknown future: targets and events are what the model predicts
                entry[key] = np.zeros((H, spec.dims.width(role)))
        entry["static"] = past.static
        rows.append((index, entry))
    batch = {
        key: torch.as_tensor(np.stack([entry[key] for _, entry in rows]), dtype=torch.float32)
        for key in BATCH_KEYS
    }
    batch["series_index"] = torch.tensor([index for index, _ in rows], dtype=torch.long)
    batch["window_start"] = torch.tensor([len(item.history) - L for item in items], dtype=torch.long)
    return PredictBatch(
        batch=batch,
        series_ids=[item.history.series_id for item in items],
        future_time=np.stack([item.future_time for item in items]),
        step_index=spec.is_step_index,
    )
