"""Shared helpers for the data-layer tests: the data root, small synthetic frames, cached real tasks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tsloop.data.spec import TaskSpec, data_root
from tsloop.data.task import load_task


TASKS = Path(__file__).resolve().parents[2] / "tasks"


@pytest.fixture(scope="session")
def root():
    """The shared data root; tests on real files are skipped where it is absent."""
    path = data_root()
    if not (path / "MANIFEST.md").is_file():
        pytest.skip(f"shared data root {path} not found (set TSLOOP_DATA_DIR)")
    return path


@pytest.fixture(scope="session")
def epf_np_task(root):
    return load_task(TASKS / "epf_np.yaml")


@pytest.fixture(scope="session")
def smap_task(root):
    return load_task(TASKS / "smap_e9.yaml")


def _make_frame(
    n: int = 200,
    series: int = 1,
    seed: int = 0,
    freq: str = "1h",
    past_exog: int = 0,
    known_future: int = 0,
    intervention: int = 0,
    event: int = 0,
    static: int = 0,
    targets: int = 1,
) -> pd.DataFrame:
    """A long-format frame (column 'series') with the requested number of columns per role."""
    rng = np.random.default_rng(seed)
    parts = []
    for s in range(series):
        cols = {
            "timestamp": pd.date_range("2024-01-01", periods=n, freq=freq),
            "series": f"s{s}",
        }
        for j in range(targets):
            cols[f"y{j}"] = np.cumsum(rng.normal(size=n)) + 10 * s
        for prefix, count in (("p", past_exog), ("k", known_future), ("u", intervention)):
            for j in range(count):
                cols[f"{prefix}{j}"] = rng.normal(size=n) * (s + 1)
        for j in range(event):
            cols[f"e{j}"] = (rng.random(n) < 0.05).astype(float)
        for j in range(static):
            cols[f"c{j}"] = float(s + j)
        parts.append(pd.DataFrame(cols))
    return pd.concat(parts, ignore_index=True)


def _make_spec(frame: pd.DataFrame, context: int = 24, horizon: int = 6, **changes) -> TaskSpec:
    """The spec naming every column of a :func:`make_frame` frame by its prefix."""
    roles = {"target": "y", "past_exog": "p", "known_future": "k", "intervention": "u", "event": "e", "static": "c"}
    columns = [c for c in frame.columns if c not in ("timestamp", "series")]
    raw = {role: [c for c in columns if c[0] == prefix] for role, prefix in roles.items()}
    raw.update(name="synthetic", format="long", series_id="series", freq="1h", context_length=context, horizon=horizon)
    raw.update(changes)
    return TaskSpec.from_dict(raw)


@pytest.fixture
def make_frame():
    return _make_frame


@pytest.fixture
def make_spec():
    return _make_spec


@pytest.fixture(scope="session")
def tasks_dir() -> Path:
    return TASKS
