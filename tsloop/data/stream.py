"""Validate and window a large file with bounded memory: a chunk of series at a time.

:func:`load_task` reads the whole table into memory, which is right for the tasks tsloop ships but
not for tens of millions of rows. Here a lazy polars scan is filtered to ``series_per_chunk``
series at a time (Parquet row-group statistics skip most of the file when it is sorted by
series), each chunk is checked with the same rules as :func:`~tsloop.data.validate.check_table`
and scaled with its own series' train statistics, and windows are yielded chunk by chunk. Peak
memory grows with the chunk, not with the file.

Example (a small Parquet file read two series at a time)::

    >>> import pathlib, tempfile
    >>> from tsloop.sim.plant import load_plant_frame
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> load_plant_frame(series=4, steps=800, step_minutes=15).to_parquet(folder / "big.parquet")
    >>> spec = TaskSpec(name="big", data="big.parquet", target=["latency_p95"], freq="15min",
    ...                 context_length=32, horizon=8, series_id="series", base_dir=folder)
    >>> report, scaler, lengths = validate_stream(spec, series_per_chunk=2)
    >>> lengths
    {'cluster_00': 800, 'cluster_01': 800, 'cluster_02': 800, 'cluster_03': 800}
    >>> batches = StreamWindows(spec, scaler, part="train", stride=4, batch_size=256, series_per_chunk=2)
    >>> [len(batch["series_index"]) for batch in batches]   # one chunk after the other
    [256, 6, 256, 6]
    >>> next(iter(batches))["past_target"].shape          # dicts in the batch contract
    torch.Size([256, 32, 1])
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl
import torch
from torch.utils.data import IterableDataset

from tsloop.data import split as splits
from tsloop.data.leakage import find_leaks
from tsloop.data.readers import (
    SeriesData,
    _require_columns,
    needed_columns,
    scan_lazy,
    split_series,
    to_table,
    unreadable,
)
from tsloop.data.scaling import PER_SERIES_ROLES, StandardScaler, _grouped_stats
from tsloop.data.spec import TaskSpec
from tsloop.data.validate import (
    SCALED_ROLES,
    ValidationReport,
    _is_constant,
    check_time,
    check_values,
)
from tsloop.data.windows import _SLICED, scale_series
from tsloop.errors import DataError

ROW = "__row__"  # the file row of each record, so messages name rows of the whole file


@dataclass
class StreamState:
    """What the chunks add up to: the report, per-series lengths, and what spans chunks."""

    report: ValidationReport
    lengths: dict[str, int] = field(default_factory=dict)
    scalers: list[StandardScaler] = field(default_factory=list)
    statics: list[np.ndarray] = field(default_factory=list)
    varies: dict[tuple[str, str], bool] = field(default_factory=dict)  # (role, column) -> varies somewhere
    past_observed: set[str] = field(default_factory=set)


def series_ids(spec: TaskSpec, path: Path | None = None) -> list[str]:
    """The distinct series of the file, in order of first appearance (one column read, streaming)."""
    lazy = scan_lazy(path or spec.resolve_data())
    if not spec.series_id:
        return ["0"]
    try:
        ids = lazy.select(pl.col(spec.series_id).cast(pl.String)).unique(maintain_order=True).collect(engine="streaming")
    except (pl.exceptions.PolarsError, OSError) as err:
        raise unreadable(path or spec.resolve_data(), err) from None
    return ids.to_series().to_list()


def iter_chunks(spec: TaskSpec, series_per_chunk: int = 64, path: Path | None = None,
                only: list[str] | None = None) -> Iterator[tuple]:
    """The file's series (or those in ``only``), ``series_per_chunk`` at a time, each time-ordered as in the file."""
    path = path or spec.resolve_data()
    lazy = scan_lazy(path).with_row_index(ROW)
    names = [n for n in lazy.collect_schema().names() if n != ROW]
    _require_columns(spec, names, path.name)
    ids = only if only is not None else series_ids(spec, path)
    columns = needed_columns(spec) + [ROW]
    for start in range(0, len(ids), series_per_chunk):
        chunk = ids[start : start + series_per_chunk]
        query = lazy.select(columns)
        if spec.series_id:
            query = query.filter(pl.col(spec.series_id).cast(pl.String).is_in(chunk))
        try:
            frame = query.collect()
        except (pl.exceptions.PolarsError, OSError) as err:
            raise unreadable(path, err) from None
        rows = frame[ROW].to_numpy()
        table = to_table(spec, frame.drop(ROW), origin=path.name, header_lines=int(path.name.endswith((".csv", ".csv.gz"))))
        items = split_series(spec, table)
        for item in items:
            item.rows = rows[item.rows]  # file rows, for messages
        yield table, items


def validate_stream(
    spec: TaskSpec, series_per_chunk: int = 64, path: Path | None = None
) -> tuple[ValidationReport, StandardScaler, dict[str, int]]:
    """Check the whole file chunk by chunk with :func:`check_table`'s rules; also fit the scaler.

    Returns the report, the scaler (train statistics per series) and each series' length.
    """
    state = StreamState(ValidationReport(rows=0, series=0, roles=spec.roles, start="", end=""))
    first, last = None, None
    for table, items in iter_chunks(spec, series_per_chunk, path):
        state.report.rows += table.rows
        state.report.series += len(items)
        lo, hi = int(table.time.min()), int(table.time.max())
        first, last = (lo, hi) if first is None else (min(first, lo), max(last, hi))
        _check_chunk(spec, table, items, state)
        if state.report.series == len(items):  # first chunk: the leakage scan looks at one series
            state.report.warnings += find_leaks(spec, items[0])
    if first is None:
        raise DataError(f"task {spec.name!r}: the data file has no rows.")
    missing = [c for c in spec.past_exog if c not in state.past_observed]
    if missing:
        raise DataError(f"past_exog column {missing[0]!r} has no observed value in any series; fill it or remove it.")
    report = state.report
    report.start, report.end = table.when(first), table.when(last)
    if report.missing_target:
        report.info.append(f"{report.missing_target} target values are missing (NaN); they are masked out of the loss.")
    for (role, column), varies in state.varies.items():
        if not varies:
            report.warnings.append(f"{role} {column!r} is constant (or all missing) within every series; consider dropping it.")
    report.warnings += splits.empty_part_warnings(spec, list(state.lengths.values()))
    return report, _merge(spec, state), state.lengths


def _check_chunk(spec: TaskSpec, table, items: list[SeriesData], state: StreamState) -> None:
    need = spec.context_length + spec.horizon
    for item in items:
        check_time(spec, table, item)
        if len(item) < need:
            raise DataError(
                f"series {item.series_id!r} has {len(item)} rows, but one window needs context_length + "
                f"horizon = {need}. Lower context_length or horizon, or drop that series."
            )
        splits.part_bounds(len(item), spec, item.series_id)
        check_values(spec, table, item, state.report)
        for j, column in enumerate(spec.target):
            if not np.isfinite(item.values["target"][:, j]).any():
                raise DataError(f"target column {column!r} has no observed value in series {item.series_id!r}; "
                                "fill it, drop that series, or remove the column from target.")
        state.past_observed |= {c for j, c in enumerate(spec.past_exog) if np.isfinite(item.values["past_exog"][:, j]).any()}
        state.report.missing_target += int((~np.isfinite(item.values["target"])).sum())
        state.lengths[item.series_id] = len(item)
        for role in SCALED_ROLES:
            for j, column in enumerate(spec.columns(role)):
                key = (role, column)
                state.varies[key] = state.varies.get(key, False) or not _is_constant(item.values[role][:, j])
    state.scalers.append(StandardScaler.fit(spec, items, [splits.train_end(len(i), spec) for i in items]))
    state.statics.append(np.stack([item.values["static"][0] for item in items]))


def _merge(spec: TaskSpec, state: StreamState) -> StandardScaler:
    """One scaler from the chunks' (per-series statistics concatenate; statics span all series)."""
    parts = state.scalers
    merged = StandardScaler([s for p in parts for s in p.series_ids], spec.roles, {}, {}, parts[0].transforms)
    for role in PER_SERIES_ROLES:
        for key in ("mean", "std", "low", "high"):
            getattr(merged, key)[role] = np.concatenate([getattr(p, key)[role] for p in parts])
    merged.mean["static"], merged.std["static"] = (m[0] for m in _grouped_stats([np.concatenate(state.statics)]))
    return merged


class StreamWindows(IterableDataset):
    """Batches of windows of one part, read chunk by chunk (windows shuffled within a chunk).

    Yields dicts in the batch contract; ``series_index`` is the series' position in ``scaler``.
    """

    def __init__(self, spec: TaskSpec, scaler: StandardScaler, part: str = "train", stride: int = 1,
                 batch_size: int = 256, series_per_chunk: int = 64, shuffle: bool = True, seed: int = 0,
                 path: Path | None = None):
        self.spec, self.scaler, self.part, self.stride = spec, scaler, part, stride
        self.batch_size, self.series_per_chunk, self.shuffle, self.seed = batch_size, series_per_chunk, shuffle, seed
        self.path = path

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        rng = np.random.default_rng(self.seed)
        for _, items in iter_chunks(self.spec, self.series_per_chunk, self.path):
            chunk = ChunkWindows(self.spec, self.scaler, items, self.part, self.stride)
            order = rng.permutation(len(chunk)) if self.shuffle else np.arange(len(chunk))
            for b in range(0, len(order), self.batch_size):
                yield chunk.batch(order[b : b + self.batch_size])


class ChunkWindows:
    """The windows of one part of a chunk of series, scaled and held as one array per batch key,
    so a batch is a single fancy-indexing gather. Windows are numbered series by series (in chunk
    order), then by start, as ``TelemetryTask.dataset`` numbers them."""

    def __init__(self, spec: TaskSpec, scaler: StandardScaler, items: list[SeriesData], part: str, stride: int):
        self.context_length, self.horizon = spec.context_length, spec.horizon
        self.indices = np.asarray([scaler.index(item.series_id) for item in items])
        scaled = scale_series(items, scaler, list(self.indices))
        self.offsets = np.concatenate([[0], np.cumsum([len(item) for item in items])[:-1]])
        self.flat = {key: np.concatenate([(s.masks if kind == "mask" else s.values)[role] for s in scaled])
                     for key, (role, axis, kind) in _SLICED.items()}
        self.static = np.stack([s.static for s in scaled])
        self.index = np.concatenate([
            np.stack([np.full(len(starts), k), starts], axis=1)
            for k, item in enumerate(items)
            for starts in [splits.window_starts(splits.part_bounds(len(item), spec)[part], spec, stride)]
        ]).astype(np.int64).reshape(-1, 2)  # (N, 2): (series in chunk, start)

    def __len__(self) -> int:
        return len(self.index)

    def batch(self, windows: np.ndarray) -> dict[str, torch.Tensor]:
        """The batch of the given window numbers, in the batch contract."""
        L, H = self.context_length, self.horizon
        k, start = self.index[windows].T
        first = self.offsets[k] + start  # (B,) row of each window's first context step in the chunk
        past, future = first[:, None] + np.arange(L), first[:, None] + L + np.arange(H)  # (B, L), (B, H)
        batch = {key: torch.from_numpy(self.flat[key][past if axis == "past" else future])
                 for key, (role, axis, kind) in _SLICED.items()}
        batch["static"] = torch.from_numpy(self.static[k])
        batch["series_index"] = torch.from_numpy(self.indices[k])
        batch["window_start"] = torch.from_numpy(start.copy())
        return batch
