"""The plant as a long-format frame and task specification."""

from __future__ import annotations

import pandas as pd

from tsloop.sim import load_plant_frame
from tsloop.sim.plant import PlantConfig, plant_task

ROLES = ("target", "past_exog", "known_future", "intervention", "event", "static")


def test_when_loaded_twice_then_frames_are_identical_and_long_format():
    a = load_plant_frame(series=2, steps=300, seed=4)
    b = load_plant_frame(series=2, steps=300, seed=4)
    pd.testing.assert_frame_equal(a, b)
    assert len(a) == 600 and list(a["series"].unique()) == ["cluster_00", "cluster_01"]
    step = a.groupby("series")["timestamp"].diff().dropna().unique()
    assert list(step) == [pd.Timedelta(minutes=5)]


def test_when_task_is_built_then_every_role_column_is_in_the_frame():
    frame = load_plant_frame(series=1, steps=50)
    for kind in ("forecast", "whatif"):
        task = plant_task(kind, PlantConfig(series=1, steps=50), data="plant.parquet")
        columns = [c for role in ROLES for c in task[role]]
        assert len(columns) == len(set(columns))
        assert set(columns) | {"timestamp", "series"} == set(frame.columns)
    assert plant_task("whatif", PlantConfig())["intervention_bounds"]["replicas"] == [1, 16]


def test_when_statics_are_written_then_they_are_constant_per_cluster():
    frame = load_plant_frame(series=3, steps=20)
    per_series = frame.groupby("series")[["capacity", "thermal_tau_min", "heat_gain", "idle_power_kw"]].nunique()
    assert (per_series.to_numpy() == 1).all()
