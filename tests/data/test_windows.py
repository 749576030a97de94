"""Windows: exactly the batch contract's keys and shapes, for every mix of roles; the predict batch."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from torch.utils.data import DataLoader

from tsloop.data.batch import BATCH_KEYS, INDEX_KEYS, ChannelDims, empty_batch
from tsloop.data.task import load_task

ROLE_COUNTS = [
    {},
    {"past_exog": 2},
    {"known_future": 1},
    {"intervention": 3},
    {"event": 1},
    {"static": 2},
    {"past_exog": 1, "known_future": 2, "intervention": 1, "event": 2, "static": 1, "targets": 2},
]


def assert_contract(batch: dict, dims: ChannelDims, B: int, L: int, H: int) -> None:
    expected = empty_batch(dims, B, L, H)
    assert set(batch) == set(BATCH_KEYS) | set(INDEX_KEYS)
    for key, value in expected.items():
        assert batch[key].shape == value.shape, key
        assert batch[key].dtype == value.dtype, key
        assert torch.isfinite(batch[key].float()).all(), key


@pytest.mark.parametrize("counts", ROLE_COUNTS, ids=lambda c: "+".join(c) or "target-only")
def test_when_a_task_has_some_roles_then_batches_still_carry_every_key(make_frame, make_spec, counts):
    frame = make_frame(n=80, series=2, **counts)
    task = load_task(make_spec(frame, context=12, horizon=4), frame)
    batch = next(iter(DataLoader(task.dataset("train"), batch_size=5)))
    assert_contract(batch, task.dims, 5, 12, 4)
    assert batch["future_control_mask"].eq(1).all() and batch["past_control_mask"].eq(1).all()


@pytest.mark.parametrize("fixture", ["epf_np_task", "smap_task"])
def test_when_real_tasks_are_windowed_then_batches_follow_the_contract(request, fixture):
    task = request.getfixturevalue(fixture)
    loader = DataLoader(task.dataset("test", stride=task.spec.horizon), batch_size=8)
    batch = next(iter(loader))
    assert_contract(batch, task.dims, 8, task.spec.context_length, task.spec.horizon)
    assert set(batch["past_event"].unique().tolist()) <= {0.0, 1.0}  # events stay unscaled


def test_when_a_window_is_read_then_it_holds_the_scaled_rows_it_names(epf_np_task):
    dataset = epf_np_task.dataset("val", stride=5)
    item = dataset[3]
    start, L, H = int(item["window_start"]), epf_np_task.spec.context_length, epf_np_task.spec.horizon
    assert start == 36691 - 168 + 15 and int(item["series_index"]) == 0
    raw = epf_np_task.series[0].values
    scaler = epf_np_task.scaler
    np.testing.assert_allclose(item["future_target"].numpy(), scaler.transform(raw["target"][start + L : start + L + H], 0), rtol=1e-6)
    np.testing.assert_allclose(
        item["past_known"].numpy(), scaler.transform(raw["known_future"][start : start + L], 0, role="known_future"), rtol=1e-6
    )


def test_when_predicting_after_a_history_then_the_batch_matches_the_dataset_window(root, epf_np_task):
    frame = pd.read_csv(root / "epf" / "NP.csv.gz")
    frame["date"] = pd.to_datetime(frame["date"], format="%Y/%m/%d %H:%M")
    start, L, H = 50000, epf_np_task.spec.context_length, epf_np_task.spec.horizon
    history = frame.iloc[start - 500 : start + L]  # longer than L: only the last L rows are used
    future = frame.iloc[start + L : start + L + H].drop(columns=["OT"])
    request = epf_np_task.predict_batch(history, future)
    assert_contract(request.batch, epf_np_task.dims, 1, L, H)
    window = epf_np_task.dataset("test")[start - epf_np_task.parts(0)["test"].start]
    assert int(window["window_start"]) == start
    for key in ("past_target", "past_target_mask", "past_known", "future_known"):
        torch.testing.assert_close(request.batch[key][0], window[key])
    assert request.batch["future_target_mask"].eq(0).all()
    assert request.series_ids == ["0"]
    assert request.timestamps()[0][0] == pd.Timestamp(frame["date"].iloc[start + L])


def test_when_the_task_has_no_known_inputs_then_no_future_frame_is_needed(make_frame, make_spec):
    frame = make_frame(n=80, series=2, event=1)
    task = load_task(make_spec(frame, context=12, horizon=4), frame)
    request = task.predict_batch(frame)
    assert_contract(request.batch, task.dims, 2, 12, 4)
    assert request.series_ids == ["s0", "s1"] and request.batch["series_index"].tolist() == [0, 1]
    assert request.timestamps()[1][-1] == frame["timestamp"].iloc[79] + pd.Timedelta(hours=4)


def test_when_every_role_is_present_then_the_predict_batch_scales_the_plan(make_frame, make_spec):
    counts = ROLE_COUNTS[-1]
    frame = make_frame(n=80, series=2, **counts)
    task = load_task(make_spec(frame, context=12, horizon=4), frame)
    history = frame.groupby("series").head(60)
    future = frame.groupby("series").nth(list(range(60, 64)))[["timestamp", "series", "k0", "k1", "u0"]]
    request = task.predict_batch(history, future)
    assert_contract(request.batch, task.dims, 2, 12, 4)
    plan = future[future.series == "s1"][["u0"]].to_numpy()
    expected = task.scaler.transform(plan, 1, role="intervention")
    np.testing.assert_allclose(request.batch["future_control"][1].numpy(), expected, rtol=1e-6)
    assert request.batch["future_control_mask"].eq(1).all()
    assert request.batch["static"][:, 0].tolist() == [-1.0, 1.0]  # statics 0 and 1, scaled across series
