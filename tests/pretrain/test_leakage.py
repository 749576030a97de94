"""No validation or test window of any benchmark task is in the corpus: by row ranges and by content.

Row ranges: each benchmark task's split is recomputed here from its own task file, and the rows,
file rows and timestamps the corpus took must end at its train part. Content: every window of
``WIDTH`` consecutive values of a task's validation and test rows (NaN-free, not constant) is
looked up among the windows of the corpus's real series; a hit counts as leakage unless that
window also occurs in some benchmark train part (SMAP and ETTh1 repeat short quantised patterns).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from pipelines.pretrain import real, simulated
from tsloop.data.spec import ROLES, TaskSpec
from tsloop.data.split import part_bounds
from tsloop.data.task import load_task
from tsloop.sim.tumour import PAPER_SEEDS, load_tumour_frame
from tsloop.sim.tumour.protocol import DAYS

WIDTH = 16  # values per hashed window
SIM_WIDTH = 4  # simulated targets are continuous and noisy: short windows are already unique
REPO = Path(__file__).resolve().parents[2]
# Seeds the benchmarks, the demo and the tests give the simulators (besides the task files' own).
BENCH_SEEDS = {*range(12), *PAPER_SEEDS}


def windows(values: np.ndarray, width: int = WIDTH) -> set[bytes]:
    """The NaN-free, non-constant windows of ``width`` consecutive values of a column, as bytes."""
    values = np.ascontiguousarray(values, dtype=np.float64)
    if len(values) < width:
        return set()
    w = np.ascontiguousarray(sliding_window_view(values, width))
    keep = np.isfinite(w).all(axis=1) & (w.min(axis=1) < w.max(axis=1))
    return set(w[keep].view(f"V{8 * width}").ravel().tolist())


def column_windows(frame: pd.DataFrame, columns, width: int = WIDTH) -> set[bytes]:
    """Windows of every column of every series of a corpus frame."""
    found: set[bytes] = set()
    for _, rows in frame.groupby("series_id", sort=False):
        for column in columns:
            if rows[column].dtype.kind == "f":
                found |= windows(rows[column].to_numpy(), width)
    return found


@pytest.fixture(scope="module")
def tasks(shared_root):
    """Each content task file (tasks/) reading shared data, loaded: {path: task}."""
    return {path: load_task(path) for path in real.benchmark_task_files()}


@pytest.fixture(scope="module")
def real_windows(corpus) -> set[bytes]:
    found: set[bytes] = set()
    for source in corpus.manifest["sources"]:
        if source["kind"] == "real":
            found |= column_windows(pd.read_parquet(corpus.out / source["file"]), source["columns"])
    return found


def entry_for(corpus, spec: TaskSpec) -> dict:
    series_id, _ = real.series_key(spec)
    entries = [e for e in corpus.manifest["real_series"] if e["series_id"] == series_id]
    assert len(entries) == 1, f"{spec.name}: its series {series_id} is not in the manifest"
    return entries[0]


def test_when_a_benchmark_task_is_split_then_the_corpus_ends_at_its_train_part(corpus, tasks):
    task_files = real.benchmark_task_files() + real.benchmark_task_files(folders=real.SPLIT_ONLY_DIRS)
    assert len(task_files) >= 18  # 13 in tasks/, 5 probe tasks: none silently skipped
    real_sources = [s for s in corpus.manifest["sources"] if s["kind"] == "real"]
    frames = {s["name"]: pd.read_parquet(corpus.out / s["file"]) for s in real_sources}
    times = {real.series_key(task.spec)[0]: task.series[0].time for task in tasks.values()}
    for path in task_files:
        spec = TaskSpec.from_yaml(path)
        entry = entry_for(corpus, spec)
        parts = part_bounds(entry["rows_total"], spec)
        if path in tasks:
            assert tasks[path].parts(0) == parts
        end = parts["val"].own_start  # the first row of the validation part
        taken = entry["rows_taken"][1]
        assert taken <= end, f"{path.name}: rows up to {taken} taken, validation starts at {end}"
        rows = frames[entry["source"]].query("series_id == @entry['series_id']")
        assert rows["step"].tolist() == list(range(taken))
        for file in entry["files"]:
            if file["rows"] is not None and not entry["series_id"].startswith("nab/"):  # nab: next test
                assert file["rows"] == [[0, taken]]
        if spec.is_step_index:
            assert rows["timestamp"].isna().all()
        else:
            assert rows["timestamp"].max() < pd.Timestamp(int(times[entry["series_id"]][end]))


def test_when_nab_file_rows_are_listed_then_they_are_the_raw_rows_before_the_held_out_grid(corpus, shared_root, tasks):
    for entry in corpus.manifest["real_series"]:
        if not entry["series_id"].startswith("nab/"):
            continue
        raw = pl.read_csv(shared_root / entry["files"][0]["path"], infer_schema=False)
        time = raw["timestamp"].str.to_datetime("%Y-%m-%d %H:%M:%S", time_unit="ns").to_pandas()
        taken = np.zeros(len(time), dtype=bool)
        for start, stop in entry["files"][0]["rows"]:
            taken[start:stop] = True
        step = pd.Timedelta(entry["freq"])
        assert time[taken].max() < pd.Timestamp(entry["last"]) + step / 2
        assert (~taken).any() and time[~taken].min() >= pd.Timestamp(entry["last"]) + step / 2


def test_when_validation_and_test_windows_are_hashed_then_none_is_in_the_corpus(tasks, real_windows):
    train: set[bytes] = set()
    held: dict[str, set[bytes]] = {}
    for path, task in tasks.items():
        for i, item in enumerate(task.series):
            parts = task.parts(i)
            for role in ROLES:
                values = item.values[role]
                for j in range(len(task.spec.data_columns(role))):
                    train |= windows(values[: parts["train"].end, j])
                    held.setdefault(path.name, set()).update(windows(values[parts["val"].own_start :, j]))
    assert sum(map(len, held.values())) > 100_000  # the check has material to work on
    for name, found in held.items():
        leaked = (found & real_windows) - train
        assert len(leaked) == 0, f"{name}: {len(leaked)} validation/test windows are in the corpus"


def test_when_a_validation_block_is_planted_then_the_content_check_finds_it(tasks, real_windows):
    task = next(t for p, t in tasks.items() if p.name == "epf_np.yaml")
    start = task.parts(0)["val"].own_start
    planted = real_windows | windows(task.series[0].values["target"][start : start + 48, 0])
    found = windows(task.series[0].values["target"][start:, 0])
    assert found & planted and not found & real_windows


def test_when_simulators_run_then_no_benchmark_seed_is_used(corpus):
    task_seeds = set()
    for path in sorted((REPO / "tasks").glob("*.yaml")) + sorted((REPO / "pipelines/probe/tasks").glob("*.yaml")):
        source = TaskSpec.from_yaml(path).source or {}
        if source.get("loader") in ("plant", "tumour"):
            task_seeds.add(int(source["seed"]))
    assert task_seeds == {0, 10}
    sources = {s["name"]: s for s in corpus.manifest["sources"]}
    seeds = [f["seed"] for f in sources["plant"]["fleets"]] + [c["seed"] for c in sources["tumour"]["cohorts"]]
    assert seeds and min(seeds) >= simulated.SIM_SEED_FLOOR > max(task_seeds | BENCH_SEEDS)


def test_when_the_tumour_task_is_split_then_none_of_its_held_out_volumes_is_in_the_corpus(corpus):
    spec = TaskSpec.from_yaml(REPO / "tasks" / "tumour.yaml")
    source = {k: v for k, v in spec.source.items() if k != "loader"}
    volume = load_tumour_frame(**source)[spec.target[0]].to_numpy().reshape(-1, DAYS)  # (patients, days), padded
    start = part_bounds(DAYS, spec)["val"].own_start
    held = set().union(*(windows(row, SIM_WIDTH) for row in volume[:, start:]))
    frame = pd.read_parquet(corpus.out / "tumour.parquet")
    assert len(held) > 10_000 and not held & column_windows(frame, ["cancer_volume"], SIM_WIDTH)
