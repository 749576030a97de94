"""The real part of the corpus: the training rows of every benchmark series, and nothing else.

A *benchmark task* is a task file in ``tasks/`` or ``pipelines/probe/tasks/`` whose data lies in the
shared data root (``data: shared:...`` or a loader of ``tsloop.data.sources`` that reads it). Each
task of ``tasks/`` is loaded with ``tsloop.data.task.load_task`` and cut with its own
``task.parts``, so the corpus follows the split each file declares and cannot drift from it. The
probe tasks add columns derived in memory (``pipelines/probe/events.py``), so they only constrain
the rows: their split is applied with ``tsloop.data.split.part_bounds`` to the series they share.
A series read by several task files (ETTh1 by four, EPF NP by two) gives the rows before the
*earliest* end of their train parts; its columns are the union of those of the ``tasks/`` files,
each with the first role in ``ROLE_PRIORITY`` that one gives it. Every shared series that no
``tasks/`` file reads is held out entirely (``HELD_OUT_RULE``).

Example::

    series = collect(benchmark_task_files(), benchmark_task_files(folders=SPLIT_ONLY_DIRS))
    frames = real_frames(series)                     # source name -> long frame of training rows
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl

from tsloop.data.paths import SHARED_PREFIX, require_data_root
from tsloop.data.spec import TaskSpec
from tsloop.data.split import part_bounds
from tsloop.data.task import load_task

REPO = Path(__file__).resolve().parents[2]
TASK_DIRS = ("tasks",)  # task files whose columns make the corpus
SPLIT_ONLY_DIRS = ("pipelines/probe/tasks",)  # task files whose splits the corpus also honours
REAL_LOADERS = ("ett", "epf", "nab", "smap", "citylearn2022")  # loaders that read the shared data root
ROLE_PRIORITY = ("target", "intervention", "known_future", "past_exog", "event", "static")
HELD_OUT_RULE = (
    "Only series that a task file of tasks/ reads from the shared data, and of each only the rows before "
    "the earliest end of the train parts of the task files (tasks/, pipelines/probe/tasks/) that read it "
    "(tsloop.data.split.part_bounds). Validation and test rows of every split, rows after them (ETTh1 "
    "from 14400), and every shared series without a task file (NAB series, CityLearn buildings) are held "
    "out entirely: zero-shot scores are measured on them."
)


@dataclass
class RealSeries:
    """One real series as the benchmark tasks read it, with the training rows the corpus takes."""

    series_id: str  # what it reads, e.g. 'epf/NP' or 'nab/series=realKnownCause/nyc_taxi'
    source: str  # the corpus file it goes to, e.g. 'epf_np', 'nab'
    data: str | dict  # the task files' data: value or source mapping
    freq: str
    step_index: bool  # time is an integer step, not a timestamp
    time: np.ndarray  # (n,) int64: ns since the epoch, or steps
    values: dict[str, np.ndarray] = field(default_factory=dict)  # column -> (n,) float64
    roles: dict[str, str] = field(default_factory=dict)  # column -> role
    tasks: list[str] = field(default_factory=list)  # task files (relative to the repository)
    train_ends: list[int] = field(default_factory=list)  # end of each task's train part
    frame_rows: np.ndarray | None = None  # (n,) rows of the file (of the loader's grid for nab)

    @property
    def rows(self) -> int:
        return len(self.time)

    @property
    def end(self) -> int:
        """Rows [0, end) go into the corpus: the earliest end of a train part."""
        return min(self.train_ends)


def benchmark_task_files(repo: Path = REPO, folders: tuple[str, ...] = TASK_DIRS) -> list[Path]:
    """Every task file of ``folders`` that reads the shared data, sorted."""
    files = sorted(p for folder in folders for p in (repo / folder).glob("*.yaml"))
    return [p for p in files if reads_shared(TaskSpec.from_yaml(p))]


def reads_shared(spec: TaskSpec) -> bool:
    if spec.source is not None:
        return spec.source.get("loader") in REAL_LOADERS
    return spec.data is not None and spec.data.startswith(SHARED_PREFIX)


def series_key(spec: TaskSpec) -> tuple[str, str]:
    """(series id, source name) of what a task reads: equal for task files that read the same series."""
    if spec.source is not None:
        loader = spec.source["loader"]
        args = ",".join(f"{k}={v}" for k, v in sorted(spec.source.items()) if k != "loader")
        return f"{loader}/{args}", loader
    relative = spec.data[len(SHARED_PREFIX) :].lstrip("/").removesuffix(".gz").removesuffix(".csv")
    return relative, relative.replace("/", "_").lower()


def files_read(data: str | dict) -> list[str]:
    """Files under the data root that a task's data value or source mapping reads."""
    if isinstance(data, str):
        return [data[len(SHARED_PREFIX) :].lstrip("/")]
    loader = data["loader"]
    if loader == "ett":
        return [f"ett/{data.get('name', 'ETTh1')}.csv.gz"]
    if loader == "epf":
        return [f"epf/{data.get('market', 'NP')}.csv.gz"]
    if loader == "nab":
        series = data["series"].removesuffix(".gz").removesuffix(".csv")
        return [f"nab/data/{series}.csv.gz", "nab/labels/combined_labels.json"]
    if loader == "smap":
        root = require_data_root()
        found = (root / "smap").glob(f"*_SMAP_{data.get('channel', 'E-9')}_*.csv.gz")
        return sorted(p.relative_to(root).as_posix() for p in found)
    if loader == "citylearn2022":
        extra = [name for key, name in (("weather", "weather"), ("pricing", "pricing"), ("carbon", "carbon_intensity"))
                 if data.get(key, True)]
        return [f"citylearn2022/{n}.csv.gz" for n in [f"Building_{data.get('building', 1)}", *extra]]
    raise ValueError(f"no file list for loader {loader!r}")


def collect(task_files: list[Path], split_files: list[Path] = (), repo: Path = REPO) -> list[RealSeries]:
    """The distinct series ``task_files`` read, each with its columns, roles and the train ends of
    every task file, ``split_files`` included, that reads it."""
    found: dict[str, RealSeries] = {}
    for path in task_files:
        task = load_task(path)
        spec = task.spec
        key, source = series_key(spec)
        for i, item in enumerate(task.series):
            series_id = key if len(task.series) == 1 else f"{key}#{item.series_id}"
            entry = found.setdefault(series_id, RealSeries(
                series_id=series_id, source=source, data=spec.source or spec.data, freq=spec.freq,
                step_index=spec.is_step_index, time=item.time, frame_rows=item.rows,
            ))
            if not np.array_equal(entry.time, item.time):
                raise ValueError(f"{path} reads {series_id} with other timestamps than {entry.tasks}")
            for role in ROLE_PRIORITY:
                for j, column in enumerate(spec.data_columns(role)):  # calendar features are not data
                    _merge(entry, column, role, item.values[role][:, j], path)
            entry.tasks.append(path.relative_to(repo).as_posix())
            entry.train_ends.append(task.parts(i)["train"].end)
    for path in split_files:
        spec = TaskSpec.from_yaml(path)
        key, _ = series_key(spec)
        if spec.series_id is not None:
            raise ValueError(f"{path}: split-only task files must read one series (wide format)")
        if key in found:  # a series no content task reads is held out whole
            found[key].tasks.append(path.relative_to(repo).as_posix())
            found[key].train_ends.append(part_bounds(found[key].rows, spec)["train"].end)
    return sorted(found.values(), key=lambda s: s.series_id)


def _merge(entry: RealSeries, column: str, role: str, values: np.ndarray, path: Path) -> None:
    if column in entry.values:
        if not np.array_equal(entry.values[column], values, equal_nan=True):
            raise ValueError(f"{path} reads {column!r} of {entry.series_id} with other values than {entry.tasks}")
        if ROLE_PRIORITY.index(role) < ROLE_PRIORITY.index(entry.roles[column]):
            entry.roles[column] = role
        return
    entry.values[column] = values
    entry.roles[column] = role


def real_frames(series: list[RealSeries]) -> dict[str, pd.DataFrame]:
    """Source name -> long frame (series_id, step, timestamp, columns) of the training rows."""
    grouped: dict[str, list[pd.DataFrame]] = {}
    for item in series:
        end = item.end
        time = np.full(end, np.datetime64("NaT", "ns")) if item.step_index else item.time[:end].astype("datetime64[ns]")
        frame = pd.DataFrame({"series_id": item.series_id, "step": np.arange(end, dtype=np.int64), "timestamp": time})
        for column in item.values:
            frame[column] = item.values[column][:end]
        grouped.setdefault(item.source, []).append(frame)
    return {source: pd.concat(frames, ignore_index=True) for source, frames in grouped.items()}


def manifest_entry(item: RealSeries) -> dict:
    """The manifest's record of one real series: where it came from and exactly which rows were taken."""
    root = require_data_root()
    end = item.end
    loader = item.data["loader"] if isinstance(item.data, dict) else None
    files = []
    for relative in files_read(item.data):
        rows = None  # a JSON label file: its labels inside the rows taken are the event column
        if relative.endswith(".csv.gz"):
            rows = _grid_file_rows(root / relative, item, end) if loader == "nab" else _ranges(item.frame_rows[:end])
        files.append({"path": relative, "sha256": _sha256(root / relative), "rows": rows})
    when = (lambda t: int(t)) if item.step_index else (lambda t: str(pd.Timestamp(int(t))))
    return {
        "series_id": item.series_id,
        "source": item.source,
        "data": item.data,
        "tasks": item.tasks,
        "freq": item.freq,
        "rows_total": item.rows,
        "rows_taken": [0, end],
        "train_ends": dict(zip(item.tasks, item.train_ends)),
        "first": when(item.time[0]),
        "last": when(item.time[end - 1]),
        "files": files,
    }


def _grid_file_rows(path: Path, item: RealSeries, end: int) -> list[list[int]]:
    """Data rows of a raw NAB file whose timestamps the nab loader snaps to grid rows [0, end)."""
    raw = pl.read_csv(path, infer_schema=False)["timestamp"].str.to_datetime("%Y-%m-%d %H:%M:%S", time_unit="ns")
    time = raw.cast(pl.Int64).to_numpy()
    step = int(item.time[1] - item.time[0])
    slot = np.rint((time - item.time[0]) / step).astype(np.int64)  # as tsloop.data.sources.load_nab snaps
    return _ranges(np.flatnonzero(slot < end))


def _ranges(rows: np.ndarray) -> list[list[int]]:
    """Sorted row numbers as [start, end) ranges: [[0, 36691]] for a prefix."""
    rows = np.sort(rows)
    breaks = np.flatnonzero(np.diff(rows) != 1) + 1
    return [[int(part[0]), int(part[-1]) + 1] for part in np.split(rows, breaks) if len(part)]


def held_out_files(series: list[RealSeries]) -> list[str]:
    """Data files under the data root that no corpus series reads (held out entirely)."""
    root = require_data_root()
    used = {path for item in series for path in files_read(item.data)}
    present = (p.relative_to(root).as_posix() for p in root.rglob("*.csv.gz"))
    return sorted(path for path in present if path not in used)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
