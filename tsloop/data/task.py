"""A loaded task: spec + validated data + split + fitted scaler. What training code starts from.

Example (a simulated fleet in memory; a task file loads the same way,
``load_task("tasks/epf_np.yaml")``)::

    >>> import torch
    >>> from tsloop.data.spec import TaskSpec
    >>> from tsloop.model import ModelConfig, WorldModel
    >>> from tsloop.sim.plant import load_plant_frame
    >>> frame = load_plant_frame(series=2, steps=800, step_minutes=15)
    >>> spec = TaskSpec(name="fleet", target=["latency_p95"], known_future=["hour_sin", "hour_cos"],
    ...                 intervention=["replicas"], freq="15min", context_length=32, horizon=8,
    ...                 series_id="series")
    >>> task = load_task(spec, frame=frame)
    >>> print(task.describe())
    task fleet: 1,600 rows, 2 series, 2024-01-01 00:00:00 .. 2024-01-09 07:45:00, freq 15min
    windows: context 32 -> horizon 8
    ...
    >>> train = task.dataset("train")                    # torch Dataset in the batch contract
    >>> val, test = task.dataset("val"), task.dataset("test", stride=8)
    >>> batch = next(iter(torch.utils.data.DataLoader(train, batch_size=4)))
    >>> model = WorldModel(ModelConfig.preset("tiny", dims=task.dims, context_length=32, horizon=8))
    >>> pred = model.eval()(batch).quantiles[..., 3]     # the median (B, H, Ct), scaled units
    >>> y = task.scaler.inverse_transform(pred, batch["series_index"])   # back to data units
    >>> len(task.fingerprint())                          # sha256: log it with the run
    64
    >>> rows = frame.groupby("series")
    >>> history = rows.nth(range(700, 732))              # the last context_length rows
    >>> future = rows.nth(range(732, 740))[["timestamp", "series", "hour_sin", "hour_cos", "replicas"]]
    >>> task.predict_batch(history, future).batch["future_control"].shape   # (B = series, H, Ci)
    torch.Size([2, 8, 1])
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tsloop.data import split as splits
from tsloop.data.batch import ChannelDims
from tsloop.data.readers import Frame, SeriesData, load_table, split_series
from tsloop.data.scaling import StandardScaler
from tsloop.data.spec import ROLES, TaskSpec
from tsloop.data.validate import ValidationReport, check_table
from tsloop.data.windows import PredictBatch, ScaledSeries, WindowDataset, make_predict_batch, scale_series
from tsloop.errors import DataError


@dataclass
class TelemetryTask:
    """Validated series with their split and scaler; builds window datasets and predict batches."""

    spec: TaskSpec
    report: ValidationReport
    series: list[SeriesData]  # raw values, one entry per series, time-ordered
    scaler: StandardScaler
    _scaled: list[ScaledSeries] | None = field(default=None, repr=False)

    @property
    def dims(self) -> ChannelDims:
        return self.spec.dims

    @property
    def series_ids(self) -> list[str]:
        return [item.series_id for item in self.series]

    def parts(self, series_index: int) -> dict[str, splits.Part]:
        """Row ranges of train/val/test for one series."""
        return splits.part_bounds(len(self.series[series_index]), self.spec)

    def dataset(self, part: str = "train", stride: int = 1) -> WindowDataset:
        """Windows of one part ('train', 'val', 'test'), every ``stride`` rows, all series."""
        if part not in splits.PARTS:
            raise ValueError(f"part must be one of {splits.PARTS}, got {part!r}")
        index = [
            np.stack([np.full(len(starts), s), starts], axis=1)
            for s in range(len(self.series))
            for starts in [splits.window_starts(self.parts(s)[part], self.spec, stride)]
        ]
        return WindowDataset(self.scaled, np.concatenate(index), self.spec.context_length, self.spec.horizon)

    @property
    def scaled(self) -> list[ScaledSeries]:
        if self._scaled is None:
            self._scaled = scale_series(self.series, self.scaler, list(range(len(self.series))))
        return self._scaled

    def sizes(self, stride: int = 1) -> dict[str, dict[str, int]]:
        """Own rows and windows per part, summed over series."""
        return splits.split_sizes([len(item) for item in self.series], self.spec, stride)

    def inverse_transform(self, values, series_index, role: str = "target", channel_axis: int = -1):
        """Shortcut for ``self.scaler.inverse_transform``."""
        return self.scaler.inverse_transform(values, series_index, role=role, channel_axis=channel_axis)

    def predict_batch(self, history: Frame, future: Frame | None = None) -> PredictBatch:
        """The batch for forecasting after ``history`` under the known inputs/plan in ``future``."""
        return make_predict_batch(self.spec, self.scaler, history, future)

    def fingerprint(self) -> str:
        """sha256 of the spec and every value the task holds: equal fingerprints, equal data."""
        digest = hashlib.sha256(json.dumps(self.spec.to_dict(), sort_keys=True).encode())
        for item in self.series:
            digest.update(item.series_id.encode() + b"\0")
            digest.update(np.ascontiguousarray(item.time, dtype=np.int64).tobytes())
            for role in ROLES:
                values = np.where(np.isnan(item.values[role]), np.nan, item.values[role])  # one NaN bit pattern
                digest.update(np.ascontiguousarray(values, dtype=np.float64).tobytes())
        return digest.hexdigest()

    def summary(self) -> dict:
        """Machine-readable overview (what ``tsloop data check --json`` prints)."""
        return {
            "name": self.spec.name,
            "rows": self.report.rows,
            "series": self.report.series,
            "start": self.report.start,
            "end": self.report.end,
            "freq": self.spec.freq,
            "context_length": self.spec.context_length,
            "horizon": self.spec.horizon,
            "roles": self.spec.roles,
            "transforms": dict(self.spec.transforms),
            "split": self.spec.split,
            "parts": self.sizes(),
            "missing_target": self.report.missing_target,
            "warnings": list(self.report.warnings),
            "info": list(self.report.info),
            "fingerprint": self.fingerprint(),
        }

    def describe(self) -> str:
        """Human-readable overview (what ``tsloop data check`` prints)."""
        s, r = self.spec, self.report
        kind, values = next(iter(s.split.items()))
        lines = [
            f"task {s.name}: {r.rows:,} rows, {r.series} series, {r.start} .. {r.end}, freq {s.freq}",
            f"windows: context {s.context_length} -> horizon {s.horizon}",
            "roles:",
        ]
        for role, columns in s.roles.items():
            shown = ", ".join(repr(c) for c in columns[:12]) + (f" ... ({len(columns)} columns)" if len(columns) > 12 else "")
            lines.append(f"  {role:<13} {shown or '-'}")
        if s.transforms:
            lines.append("transforms:   " + ", ".join(f"{c!r} {t}" for c, t in s.transforms.items()))
        lines.append(f"split ({kind} {'/'.join(f'{v:g}' for v in values)}):")
        for part, size in self.sizes().items():
            lines.append(f"  {part:<5} {size['rows']:>9,} rows {size['windows']:>9,} windows")
        lines += [f"info: {m}" for m in r.info]
        lines += [f"warning: {m}" for m in r.warnings]
        return "\n".join(lines)


def load_task(path_or_spec: str | Path | TaskSpec, frame: Frame | None = None) -> TelemetryTask:
    """Read, validate, split and scale a task from a task file or a spec (optionally with an in-memory frame).

    Raises SpecError for a broken spec and DataError for data that does not fit it.
    """
    spec = path_or_spec if isinstance(path_or_spec, TaskSpec) else TaskSpec.from_yaml(path_or_spec)
    table = load_table(spec, frame)
    series = split_series(spec, table)
    report = check_table(spec, table, series)
    if splits.split_sizes([len(item) for item in series], spec)["train"]["windows"] == 0:
        raise DataError(
            f"task {spec.name!r}: the train part holds no window of context_length + horizon = "
            f"{spec.context_length + spec.horizon} rows. Shorten the windows or give train a larger share."
        )
    scaler = StandardScaler.fit(spec, series, [splits.train_end(len(item), spec) for item in series])
    return TelemetryTask(spec=spec, report=report, series=series, scaler=scaler)
