"""Read telemetry into a :class:`Table`: NumPy columns with parsed timestamps and series codes.

Files (CSV, CSV.gz, Parquet) go through polars, lazily, selecting only the columns the
task needs. pandas and polars frames can be passed in directly. Column names are kept
exactly as written (EPF's headers start with a space); errors suggest the close match.
Values are read as text first so that a stray word is reported with its row, instead of
silently turning a column into strings.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl

from tsloop.data.calendar import calendar_values
from tsloop.data.sources import load_source
from tsloop.data.spec import ROLES, TaskSpec, did_you_mean
from tsloop.errors import DataError, SpecError

WIDE_SERIES_ID = "0"  # series id given to the single series of a wide-format table
SERIES_COLUMN = "__series__"  # internal column holding the series id of wide data
# Tried in order; the first that parses every timestamp wins ('auto' = polars' own inference).
TIME_FORMATS = (
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%dT%H:%M:%S",
    "%Y/%m/%d %H:%M",  # EPF: 2013/1/1 0:00
    "%Y/%m/%d %H:%M:%S",
    "%Y-%m-%d",
    "auto",
)
Frame = pd.DataFrame | pl.DataFrame | pl.LazyFrame


@dataclass
class Table:
    """A task's columns in file order: one entry per row, before any sorting or checking."""

    series: np.ndarray  # (N,) int64 code into series_ids
    series_ids: list[str]
    time: np.ndarray  # (N,) int64: nanoseconds since the epoch, or the step index for freq 'step'
    values: dict[str, np.ndarray]  # column -> (N,) float64, NaN where missing
    step_index: bool  # time holds integer steps, not datetimes
    origin: str = "frame"  # where the rows came from, for messages
    header_lines: int = 0  # 1 for CSV files: row i is on line i + 2

    @property
    def rows(self) -> int:
        return len(self.time)

    def row(self, i: int) -> str:
        """'row i' (0-based, header excluded), with the file line when it came from a CSV."""
        if self.header_lines:
            return f"row {i} (line {i + 1 + self.header_lines} of {self.origin})"
        return f"row {i}"

    def when(self, t: int) -> str:
        return format_time(t, self.step_index)


def format_time(t: int | np.integer, step_index: bool) -> str:
    """A timestamp as people write it: '2013-01-01 17:00:00', or the step number."""
    if step_index:
        return f"step {int(t)}"
    return str(pd.Timestamp(int(t)))


def load_table(spec: TaskSpec, frame: Frame | None = None, roles: tuple[str, ...] | None = None) -> Table:
    """Read the task's columns from ``frame``, the spec's ``source`` loader, or its ``data`` file.

    ``roles`` limits the value columns read (e.g. a future frame has no targets); default all.
    """
    if frame is not None:
        return to_table(spec, _polars(frame, spec, roles), origin="the given frame", roles=roles)
    if spec.source is not None:
        return to_table(spec, _polars(load_source(spec.source), spec), origin=f"source {spec.source['loader']}")
    path = spec.resolve_data()
    return to_table(spec, scan(path, spec), origin=path.name, header_lines=int(_is_csv(path)))


def scan(path: Path, spec: TaskSpec) -> pl.DataFrame:
    """The needed columns of a CSV/CSV.gz/Parquet file (CSV values as text, parsed later)."""
    lazy = scan_lazy(path)
    try:
        names = lazy.collect_schema().names()
        _require_columns(spec, names, path.name)
        return lazy.select(needed_columns(spec)).collect()
    except (pl.exceptions.PolarsError, OSError, ValueError) as err:
        raise unreadable(path, err) from None


def scan_lazy(path: Path) -> pl.LazyFrame:
    """A lazy scan of a CSV/CSV.gz/Parquet file, after checking that it is non-empty, UTF-8 text
    (CSV) or a Parquet file; nothing is read beyond the first bytes."""
    if path.stat().st_size == 0:
        raise DataError(f"data file {path} is empty (0 bytes); give a CSV with a header row or a Parquet file.")
    if _is_csv(path):
        check_text_encoding(path)
        return pl.scan_csv(path, infer_schema=False)
    if path.suffix in (".parquet", ".pq"):
        with open(path, "rb") as handle:
            head = handle.read(4)
            handle.seek(-4, 2)
            tail = handle.read(4)
        if head != b"PAR1" or tail != b"PAR1":
            raise DataError(
                f"{path} is not a complete Parquet file (a Parquet file starts and ends with 'PAR1'; this one "
                f"{'ends early: it is truncated' if head == b'PAR1' else 'does not start with it'}). "
                "Copy or export the file again."
            )
        return pl.scan_parquet(path)
    raise SpecError(f"cannot read {path.name}: use a .csv, .csv.gz or .parquet file.")


def check_text_encoding(path: Path, size: int = 1 << 16) -> None:
    """DataError unless the first bytes of a CSV (gunzipped for .gz) are UTF-8 text."""
    import gzip

    try:
        if path.name.endswith(".gz"):
            with gzip.open(path, "rb") as handle:
                head = handle.read(size)
        else:
            with open(path, "rb") as handle:
                head = handle.read(size)
    except (OSError, EOFError) as err:
        raise unreadable(path, err) from None
    fix = "Re-save it as UTF-8 (e.g. `iconv -f {} -t UTF-8`, or 'CSV UTF-8' in a spreadsheet)."
    if head.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in head:
        raise DataError(
            f"{path} looks like UTF-16 text (it has a UTF-16 byte-order mark or NUL bytes), not UTF-8. "
            + fix.format("UTF-16")
        )
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as err:
        if err.start < len(head) - 4:  # not just a character cut at the end of the sample
            line = head[: err.start].count(b"\n") + 1
            raise DataError(
                f"{path} is not UTF-8 text: byte {head[err.start]:#04x} on line {line} cannot be decoded "
                f"(Latin-1 or Windows-1252?). " + fix.format("LATIN1")
            ) from None


def unreadable(path: Path, err: BaseException) -> DataError:
    """The message for a file the reader gave up on (truncated, corrupted, wrong format)."""
    text = str(err).strip().splitlines()[0][:300] if str(err).strip() else type(err).__name__
    return DataError(
        f"could not read {path}: {text}. The file may be truncated or corrupted, or not the format its "
        "name says (.csv, .csv.gz, .parquet); copy or export it again."
    )


def needed_columns(spec: TaskSpec, roles: tuple[str, ...] | None = None) -> list[str]:
    keys = [spec.timestamp] + ([spec.series_id] if spec.series_id else [])
    return keys + value_columns(spec, roles)


def value_columns(spec: TaskSpec, roles: tuple[str, ...] | None = None) -> list[str]:
    """Columns read from the data (calendar features are computed from the timestamps instead)."""
    return [c for r in ROLES if roles is None or r in roles for c in spec.data_columns(r)]


def to_table(
    spec: TaskSpec,
    frame: pl.DataFrame,
    origin: str = "frame",
    header_lines: int = 0,
    roles: tuple[str, ...] | None = None,
) -> Table:
    """Parse timestamps, series ids and numbers of an already-read frame."""
    _require_columns(spec, frame.columns, origin, roles)
    frame = frame.select(needed_columns(spec, roles))
    if frame.height == 0:
        raise DataError(f"{origin} has no rows (only a header?); give at least one row per timestamp of each series.")
    time = _parse_time(spec, frame[spec.timestamp], origin, header_lines)
    if spec.series_id:
        ids = frame[spec.series_id]
        if ids.null_count():
            i = int(ids.is_null().arg_max())
            raise DataError(f"series_id column {spec.series_id!r} is empty on row {i}; every row needs a series id.")
        codes, uniques = pd.factorize(ids.cast(pl.String).to_numpy(), sort=False)
        series_ids = [str(u) for u in uniques]
    else:
        codes, series_ids = np.zeros(frame.height, dtype=np.int64), [WIDE_SERIES_ID]
    table = Table(
        series=np.asarray(codes, dtype=np.int64),
        series_ids=series_ids,
        time=time,
        values={},
        step_index=spec.is_step_index,
        origin=origin,
        header_lines=header_lines,
    )
    for column in value_columns(spec, roles):
        table.values[column] = _parse_numbers(frame[column], table)
    if roles is None or "known_future" in roles:
        table.values.update(calendar_values(spec.calendar, time))
    return table


# -- helpers ---------------------------------------------------------------------------------


def _is_csv(path: Path) -> bool:
    return path.name.endswith((".csv", ".csv.gz"))


def _polars(frame: Any, spec: TaskSpec, roles: tuple[str, ...] | None = None) -> pl.DataFrame:
    if isinstance(frame, pl.LazyFrame):
        _require_columns(spec, frame.collect_schema().names(), "the given frame", roles)
        return frame.select(needed_columns(spec, roles)).collect()
    if isinstance(frame, pd.DataFrame):
        if spec.timestamp not in frame.columns and frame.index.name == spec.timestamp:
            frame = frame.reset_index()
        frame = frame.rename(columns=str)
        _require_columns(spec, list(frame.columns), "the given frame", roles)
        frame = frame[needed_columns(spec, roles)].copy()
        for name in frame.columns:
            mixed = frame[name].dtype == object and pd.api.types.infer_dtype(frame[name]) not in ("string", "empty")
            if mixed:  # mixed types: keep as text so bad values are reported
                frame[name] = [None if _is_missing(v) else str(v) for v in frame[name]]
        return pl.from_pandas(frame)
    if isinstance(frame, pl.DataFrame):
        return frame
    raise DataError(f"expected a pandas or polars DataFrame, got {type(frame).__name__}.")


def _require_columns(spec: TaskSpec, names: list[str], origin: str, roles: tuple[str, ...] | None = None) -> None:
    wanted = [("timestamp", spec.timestamp)] + ([("series_id", spec.series_id)] if spec.series_id else [])
    wanted += [(r, c) for r in ROLES if roles is None or r in roles for c in spec.data_columns(r)]
    missing = [(role, column) for role, column in wanted if column not in names]
    if not missing:
        return
    lines = [f"  - {column!r} ({role}) not found.{did_you_mean(column, names)}" for role, column in missing]
    shown = ", ".join(repr(n) for n in names[:40]) + (" ..." if len(names) > 40 else "")
    future_only = all(role in ("known_future", "intervention") for role, _ in missing)
    if future_only and not any(did_you_mean(column, names) for _, column in missing):
        # known-future values are a separate input: the fix is to give them, not to rename anything
        fix = ("These are known-future or intervention inputs: give their values for the next "
               f"{spec.horizon} steps in a future frame (--future FILE on the command line, future= in "
               "Python) or in every plan.")
    else:
        fix = "Fix the names: they must match the header exactly."
    raise DataError(
        f"{len(missing)} column(s) named in task {spec.name!r} are missing from {origin}:\n"
        + "\n".join(lines)
        + f"\nColumns present: {shown}. {fix}"
    )


def _parse_time(spec: TaskSpec, column: pl.Series, origin: str, header_lines: int) -> np.ndarray:
    where = lambda i: f"row {i}" + (f" (line {i + 1 + header_lines} of {origin})" if header_lines else "")  # noqa: E731
    if column.null_count():
        i = int(column.is_null().arg_max())
        raise DataError(f"timestamp column {spec.timestamp!r} is empty on {where(i)}; every row needs a time.")
    dtype = column.dtype
    if spec.is_step_index:
        steps = column.cast(pl.String).str.strip_chars().cast(pl.Float64, strict=False) if dtype == pl.String else column.cast(pl.Float64)
        bad = steps.is_null() | (steps != steps.round())
        if bad.any():
            i = int(bad.arg_max())
            raise DataError(
                f"timestamp column {spec.timestamp!r} must hold whole step numbers for freq 'step', "
                f"but {where(i)} has {column[i]!r}. Use integers, or set freq to the real frequency (e.g. '1h')."
            )
        return steps.cast(pl.Int64).to_numpy().astype(np.int64)
    if dtype == pl.Date:
        column = column.cast(pl.Datetime("ns"))
    elif dtype == pl.String:
        column = _parse_time_text(spec, column, where)
    elif not isinstance(dtype, pl.Datetime):
        raise DataError(
            f"timestamp column {spec.timestamp!r} holds {dtype} values, not datetimes (first: {column[0]!r}). "
            f"For an integer time index set freq: step; otherwise store dates like '2016-07-01 00:00:00'."
        )
    if getattr(column.dtype, "time_zone", None):
        column = column.dt.convert_time_zone("UTC").dt.replace_time_zone(None)  # compared as UTC wall clock
    return column.cast(pl.Datetime("ns")).cast(pl.Int64).to_numpy().astype(np.int64)


def _parse_time_text(spec: TaskSpec, column: pl.Series, where) -> pl.Series:
    text = column.str.strip_chars()
    zoned = text.str.contains(r"(Z|[+-]\d\d:?\d\d)$")
    if zoned.any() and not zoned.all():
        i, j = int(zoned.arg_max()), int((~zoned).arg_max())
        raise DataError(
            f"timestamp column {spec.timestamp!r} mixes time zones: {where(i)} has {column[i]!r} (with a UTC "
            f"offset) but {where(j)} has {column[j]!r} (no time zone), so their order is ambiguous. Write every "
            "timestamp with its offset (e.g. '2024-01-01T00:00:00+02:00') or every one in UTC without it."
        )
    best: tuple[int, pl.Series] | None = None
    for fmt in TIME_FORMATS:
        try:
            parsed = text.str.to_datetime(None if fmt == "auto" else fmt, strict=False, time_unit="ns")
        except pl.exceptions.PolarsError:
            continue
        if parsed.null_count() == 0:
            return parsed
        if best is None or parsed.null_count() < best[0]:
            best = (parsed.null_count(), parsed)
    i = int(best[1].is_null().arg_max()) if best is not None else 0
    raise DataError(
        f"cannot parse timestamp {column[i]!r} on {where(i)} of column {spec.timestamp!r}. Expected dates "
        "like '2016-07-01 00:00:00' or '2013/1/1 0:00', the same format on every row. Fix that row; "
        "for an integer time index set freq: step."
    )


def _parse_numbers(column: pl.Series, table: Table) -> np.ndarray:
    if column.dtype == pl.String:
        text = column.str.strip_chars()
        numbers = text.cast(pl.Float64, strict=False)
        bad = numbers.is_null() & text.is_not_null() & (text != "")
        if bad.any():
            rows = np.flatnonzero(bad.to_numpy())
            shown = "; ".join(
                f"{table.row(int(i))}, {table.when(table.time[i])}: {column[int(i)]!r}" for i in rows[:5]
            )
            raise DataError(
                f"column {column.name!r} has {len(rows)} non-numeric value(s): {shown}. Expected numbers; "
                "fix or delete those values (an empty cell or NaN marks a missing value)."
            )
        column = numbers
    elif column.dtype == pl.Boolean or column.dtype.is_numeric():
        column = column.cast(pl.Float64)
    else:
        i = 0
        raise DataError(
            f"column {column.name!r} holds {column.dtype} values, not numbers ({table.row(i)}: {column[i]!r}). "
            "Convert it to numbers, or drop it from the task."
        )
    return column.fill_null(float("nan")).to_numpy().astype(np.float64, copy=False)


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value))


@dataclass
class SeriesData:
    """One series of a table: its rows in order, values grouped by role (columns in spec order)."""

    series_id: str
    time: np.ndarray  # (n,) int64
    values: dict[str, np.ndarray]  # role -> (n, C) float64
    rows: np.ndarray  # (n,) row numbers in the table, for messages

    def __len__(self) -> int:
        return len(self.time)

    def tail(self, n: int) -> "SeriesData":
        """The last ``n`` rows."""
        return SeriesData(self.series_id, self.time[-n:], {r: v[-n:] for r, v in self.values.items()}, self.rows[-n:])


def series_rows(table: Table) -> list[np.ndarray]:
    """Row numbers of each series (in ``table.series_ids`` order), each in table order."""
    order = np.argsort(table.series, kind="stable")
    counts = np.bincount(table.series, minlength=len(table.series_ids))
    return np.split(order, np.cumsum(counts)[:-1])


def split_series(spec: TaskSpec, table: Table) -> list[SeriesData]:
    """The table as one :class:`SeriesData` per series (rows kept in table order)."""
    blocks = {}  # role -> (N, C) in table row order; roles not read (e.g. of a future frame) get width 0
    for role, columns in spec.roles.items():
        present = [table.values[c] for c in columns if c in table.values]
        blocks[role] = np.stack(present, axis=1) if present else np.empty((table.rows, 0))
    return [
        SeriesData(series_id=sid, time=table.time[rows], values={r: b[rows] for r, b in blocks.items()}, rows=rows)
        for sid, rows in zip(table.series_ids, series_rows(table))
    ]
