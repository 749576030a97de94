"""A task trained from a file too large for memory: what ``TelemetryTask`` offers, read lazily.

``load_stream_task`` validates the file chunk by chunk (``validate_stream``) and keeps only the
report, the scaler and each series' length; windows are read again, a chunk of series at a time,
while training (``tsloop.train.stream_datamodule``). A series is read on its own when asked for
(``task.series[i]``, e.g. for the validation fan chart). ``tsloop train`` uses this above
``AUTO_STREAM_ROWS`` rows, or with ``--stream``.

Example (a task file beside its Parquet file, as ``tsloop simulate`` writes them)::

    >>> import pathlib, tempfile
    >>> from tsloop.sim.plant import load_plant_frame
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> load_plant_frame(series=4, steps=800, step_minutes=15).to_parquet(folder / "big.parquet")
    >>> spec = TaskSpec(name="big", data="big.parquet", target=["latency_p95"], freq="15min",
    ...                 context_length=32, horizon=8, series_id="series")
    >>> path = spec.to_yaml(folder / "big.task.yaml")
    >>> task = load_stream_task(TaskSpec.from_yaml(path), series_per_chunk=2)
    >>> print(task.describe())
    task big: 3,200 rows, 4 series, 2024-01-01 00:00:00 .. 2024-01-09 07:45:00, freq 15min
    ...
    >>> task.chunks()
    [['cluster_00', 'cluster_01'], ['cluster_02', 'cluster_03']]
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from tsloop.data import split as splits
from tsloop.data.readers import SeriesData, scan_lazy, unreadable
from tsloop.data.scaling import StandardScaler
from tsloop.data.spec import ROLES, TaskSpec
from tsloop.data.stream import iter_chunks, validate_stream
from tsloop.data.task import TelemetryTask
from tsloop.data.validate import ValidationReport
from tsloop.errors import DataError

AUTO_STREAM_ROWS = 5_000_000  # above this many rows `tsloop train` streams (in memory: ~1 GB per 10 columns)


def count_rows(spec: TaskSpec) -> int:
    """Rows of the task's file, without reading it (Parquet: its footer; CSV: one streaming pass)."""
    path = spec.resolve_data()
    try:
        return int(scan_lazy(path).select(pl.len()).collect(engine="streaming").item())
    except (pl.exceptions.PolarsError, OSError) as err:
        raise unreadable(path, err) from None


@dataclass
class StreamTask:
    """Report, scaler and series lengths of a validated file; windows are read chunk by chunk."""

    spec: TaskSpec
    report: ValidationReport
    scaler: StandardScaler
    lengths: dict[str, int]  # series id -> rows, in file order (the scaler's order)
    series_per_chunk: int = 64
    streamed = True  # what fit() asks to choose the streaming data module

    @property
    def dims(self):
        return self.spec.dims

    @property
    def series_ids(self) -> list[str]:
        return list(self.lengths)

    @property
    def series(self) -> "SeriesOnDemand":
        return SeriesOnDemand(self)

    def parts(self, series_index: int) -> dict[str, splits.Part]:
        return splits.part_bounds(self.lengths[self.series_ids[series_index]], self.spec)

    def sizes(self, stride: int = 1) -> dict[str, dict[str, int]]:
        return splits.split_sizes(list(self.lengths.values()), self.spec, stride)

    def chunks(self) -> list[list[str]]:
        """The series of each chunk, in the order ``iter_chunks`` reads them."""
        ids = self.series_ids
        return [ids[i : i + self.series_per_chunk] for i in range(0, len(ids), self.series_per_chunk)]

    def fingerprint(self) -> str:
        """``TelemetryTask.fingerprint`` computed chunk by chunk: the same digest for the same data."""
        digest = hashlib.sha256(json.dumps(self.spec.to_dict(), sort_keys=True).encode())
        for _, items in iter_chunks(self.spec, self.series_per_chunk):
            for item in items:
                digest.update(item.series_id.encode() + b"\0")
                digest.update(np.ascontiguousarray(item.time, dtype=np.int64).tobytes())
                for role in ROLES:
                    values = np.where(np.isnan(item.values[role]), np.nan, item.values[role])
                    digest.update(np.ascontiguousarray(values, dtype=np.float64).tobytes())
        return digest.hexdigest()

    describe = TelemetryTask.describe  # reads only spec, report and sizes()


class SeriesOnDemand(Sequence):
    """``task.series`` of a streamed task: series ``i`` is read from the file when asked for."""

    def __init__(self, task: StreamTask):
        self.task = task

    def __len__(self) -> int:
        return len(self.task.lengths)

    def __getitem__(self, i: int) -> SeriesData:
        for _, items in iter_chunks(self.task.spec, 1, only=[self.task.series_ids[i]]):
            return items[0]
        raise IndexError(i)


def load_stream_task(spec: TaskSpec, series_per_chunk: int = 64) -> StreamTask:
    """Validate ``spec``'s file chunk by chunk and keep what training needs but the data."""
    report, scaler, lengths = validate_stream(spec, series_per_chunk)
    if splits.split_sizes(list(lengths.values()), spec)["train"]["windows"] == 0:
        raise DataError(
            f"task {spec.name!r}: the train part holds no window of context_length + horizon = "
            f"{spec.context_length + spec.horizon} rows. Shorten the windows or give train a larger share."
        )
    return StreamTask(spec, report, scaler, lengths, series_per_chunk)
