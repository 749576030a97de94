"""Scaler: train statistics only, NaN-aware, invertible, serialisable to plain data."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import torch

from tsloop.data.scaling import StandardScaler
from tsloop.data.spec import TaskSpec
from tsloop.data.task import load_task


def test_when_test_values_change_then_the_scaler_is_unchanged(make_frame, make_spec):
    frame = make_frame(n=200, series=2, known_future=1, intervention=1)
    spec = make_spec(frame)
    before = load_task(spec, frame).scaler
    changed = frame.copy()
    tail = changed.groupby("series").cumcount() >= 160  # inside the test part of each series
    changed.loc[tail, ["y0", "k0", "u0"]] *= 1000.0
    after = load_task(spec, changed).scaler
    assert before.to_dict() == after.to_dict()
    first = frame[frame.series == "s0"].iloc[:140]  # train rows of s0: int(200 * 0.7)
    np.testing.assert_allclose(before.mean["target"][0], [first["y0"].mean()])
    np.testing.assert_allclose(before.std["target"][0], [first["y0"].std(ddof=0)])


def test_when_transformed_and_inverted_then_values_come_back(epf_np_task):
    scaler = epf_np_task.scaler
    raw = epf_np_task.series[0].values["known_future"][:500]
    back = scaler.inverse_transform(scaler.transform(raw, 0, role="known_future"), 0, role="known_future")
    np.testing.assert_allclose(back, raw, rtol=1e-12)
    batch = torch.randn(3, 24, 1, 5)  # (B, H, Ct, Q): quantiles on the last axis
    index = torch.zeros(3, dtype=torch.long)
    out = scaler.inverse_transform(batch, index, role="target", channel_axis=2)
    expected = batch * scaler.std["target"][0, 0] + scaler.mean["target"][0, 0]
    torch.testing.assert_close(out, expected)


def test_when_series_differ_then_each_uses_its_own_statistics(make_frame, make_spec):
    frame = make_frame(n=100, series=3, static=1)
    task = load_task(make_spec(frame), frame)
    values = np.zeros((3, 4, 1))
    out = task.scaler.inverse_transform(values, np.array([0, 1, 2]))
    np.testing.assert_allclose(out[:, 0, 0], task.scaler.mean["target"][:, 0])
    np.testing.assert_allclose(task.scaler.transform(np.array([[0.0], [1.0], [2.0]]), 0, role="static")[:, 0], [-1.2247449, 0, 1.2247449], rtol=1e-6)


def test_when_a_channel_is_constant_or_missing_then_std_is_guarded(make_frame, make_spec):
    frame = make_frame(n=100, known_future=1).assign(k0=5.0)
    frame.loc[:80, "y0"] = np.nan
    task = load_task(make_spec(frame), frame)
    assert task.scaler.std["known_future"][0, 0] == 1.0 and task.scaler.mean["target"][0, 0] == 0.0
    assert all(np.isfinite(v.numpy()).all() for v in task.dataset("train")[0].values())


def test_when_serialised_to_json_then_the_scaler_round_trips(smap_task):
    raw = json.loads(json.dumps(smap_task.scaler.to_dict()))
    again = StandardScaler.from_dict(raw)
    for role, mean in smap_task.scaler.mean.items():
        np.testing.assert_array_equal(again.mean[role], mean)
        np.testing.assert_array_equal(again.std[role], smap_task.scaler.std[role])
    assert again.series_ids == smap_task.scaler.series_ids


def test_when_etth1_rows_after_train_change_then_the_scaler_is_unchanged(root, tasks_dir):
    spec = TaskSpec.from_yaml(tasks_dir / "etth1_MS.yaml")
    frame = pd.read_csv(root / "ett" / "ETTh1.csv.gz")
    before = load_task(spec, frame).scaler
    changed = frame.copy()
    changed.loc[8640:, ["OT", "HUFL"]] = changed.loc[8640:, ["OT", "HUFL"]] * 7 + 100
    assert load_task(spec, changed).scaler.to_dict() == before.to_dict()
    np.testing.assert_allclose(before.mean["target"][0, 0], frame["OT"][:8640].mean())
    np.testing.assert_allclose(before.std["past_exog"][0, 0], frame["HUFL"][:8640].std(ddof=0))
