"""Scaler: train statistics only, NaN-aware, per-column transforms, invertible, serialisable to plain data."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from tsloop.data.scaling import StandardScaler
from tsloop.data.spec import TaskSpec
from tsloop.data.task import load_task
from tsloop.errors import CheckpointError, DataError, PlanError


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


# -- per-column transforms (log1p, log, asinh) -------------------------------------------------

FORWARD = {"identity": lambda v: v, "log1p": np.log1p, "log": np.log, "asinh": np.arcsinh}


def heavy_frame(make_frame, name: str, n: int = 200, series: int = 2, **counts) -> pd.DataFrame:
    """A frame whose target y0 is heavy-tailed and inside the domain of transform ``name``."""
    frame = make_frame(n=n, series=series, **counts)
    rng = np.random.default_rng(1)
    spikes = np.exp(rng.normal(size=len(frame)) * 2.5)  # spans several decades
    frame["y0"] = np.sinh(rng.normal(size=len(frame)) * 4) * 50 if name == "asinh" else spikes * 80
    if name == "log1p":
        frame.loc[::17, "y0"] = 0.0  # zero is allowed under log1p
    return frame


@pytest.mark.parametrize("name", list(FORWARD))
def test_when_a_transform_is_set_then_transform_then_inverse_gives_the_values_back(make_frame, make_spec, name):
    frame = heavy_frame(make_frame, name)
    task = load_task(make_spec(frame, transforms={"y0": name}), frame)
    scaler = task.scaler
    raw = task.series[1].values["target"]  # (n, 1), float64
    scaled = scaler.transform(raw, 1)
    expected = (FORWARD[name](raw) - scaler.mean["target"][1]) / scaler.std["target"][1]  # transform, then standardise
    np.testing.assert_allclose(scaled, expected, rtol=1e-12)
    np.testing.assert_allclose(scaler.inverse_transform(scaled, 1), raw, rtol=1e-10, atol=1e-12)
    index = torch.tensor([1, 0, 1])
    batch = torch.as_tensor(np.stack([raw[:24], task.series[0].values["target"][:24], raw[24:48]]))  # (B, T, 1)
    back = scaler.inverse_transform(scaler.transform(batch, index), index)
    assert isinstance(back, torch.Tensor) and back.dtype == torch.float64
    torch.testing.assert_close(back, batch, rtol=1e-10, atol=1e-12)
    single = batch.to(torch.float32)  # float32 standardisation loses ~1e-7 of the spread, not of each value
    back = scaler.inverse_transform(scaler.transform(single, index), index)
    torch.testing.assert_close(back, single, rtol=1e-5, atol=1e-6 * float(single.abs().max()))


def test_when_channels_have_different_transforms_then_each_is_applied_on_the_channel_axis(make_frame, make_spec):
    frame = heavy_frame(make_frame, "log", targets=2)
    frame["y1"] = np.sinh(frame["y1"])  # signed
    task = load_task(make_spec(frame, transforms={"y0": "log", "y1": "asinh"}), frame)
    scaler = task.scaler
    assert scaler.channel_transforms("target") == ["log", "asinh"]
    quantiles = torch.randn(4, 6, 2, 3, dtype=torch.float64)  # (B, H, Ct, Q)
    index = torch.tensor([0, 1, 1, 0])
    out = scaler.inverse_transform(quantiles, index, channel_axis=2)
    mean, std = scaler.mean["target"][index.numpy()], scaler.std["target"][index.numpy()]  # (B, Ct)
    z = quantiles.numpy() * std[:, None, :, None] + mean[:, None, :, None]
    np.testing.assert_allclose(out[:, :, 0].numpy(), np.exp(z[:, :, 0]), rtol=1e-12)
    np.testing.assert_allclose(out[:, :, 1].numpy(), np.sinh(z[:, :, 1]), rtol=1e-12)
    again = scaler.transform(out, index, channel_axis=2)
    torch.testing.assert_close(again, quantiles, rtol=1e-9, atol=1e-9)


def test_when_a_transform_is_set_then_statistics_are_of_transformed_train_rows_only(make_frame, make_spec):
    frame = heavy_frame(make_frame, "log1p")
    spec = make_spec(frame, transforms={"y0": "log1p"})
    before = load_task(spec, frame).scaler
    train = np.log1p(frame[frame.series == "s0"]["y0"].iloc[:140])  # train rows of s0: int(200 * 0.7)
    np.testing.assert_allclose(before.mean["target"][0], [train.mean()])
    np.testing.assert_allclose(before.std["target"][0], [train.std(ddof=0)])
    changed = frame.copy()
    changed.loc[changed.groupby("series").cumcount() >= 160, "y0"] *= 1000.0  # test rows only
    assert load_task(spec, changed).scaler.to_dict() == before.to_dict()


def test_when_model_outputs_are_extreme_then_log1p_gives_no_negative_or_infinite_values(make_frame, make_spec):
    frame = heavy_frame(make_frame, "log1p")
    scaler = load_task(make_spec(frame, transforms={"y0": "log1p"}), frame).scaler
    z = torch.tensor([[-1e6], [-50.0], [0.0], [50.0], [1e6]], dtype=torch.float32)  # (T, 1)
    out = scaler.inverse_transform(z, 0)
    assert (out >= 0).all() and torch.isfinite(out).all()
    assert out[0, 0] == 0 and out[-1, 0] > 1e38  # clipped to the float32 range, not inf
    assert np.isfinite(scaler.inverse_transform(z.numpy().astype(np.float64), 0)).all()


@pytest.mark.parametrize(
    "name, bad, need, fix",
    [
        ("log1p", -3.5, "needs values >= 0", "Use asinh for a channel that can go negative"),
        ("log", 0.0, "needs values > 0", "Use log1p if the channel can be 0, asinh if it can go negative"),
    ],
)
def test_when_data_leave_the_transform_domain_then_data_error_names_column_series_row_and_fix(
    make_frame, make_spec, name, bad, need, fix
):
    frame = heavy_frame(make_frame, "log")
    frame.loc[frame.index[200 + 170], "y0"] = bad  # series s1, row 170: in the test part (every row is checked)
    frame.loc[frame.index[200 + 180], "y0"] = bad
    frame.loc[frame.index[200 + 3], "y0"] = np.nan  # missing values are masked, not domain errors
    with pytest.raises(DataError) as err:
        load_task(make_spec(frame, transforms={"y0": name}), frame)
    message = str(err.value)
    assert f"target column 'y0' has transform {name}, which {need}" in message
    assert f"series 's1' holds {bad:g} at row 370 (2024-01-08 02:00:00), the first of 2 such values" in message
    assert fix in message and "remove 'y0' from transforms" in message


def test_when_a_request_leaves_the_transform_domain_then_transform_raises_data_error(make_frame, make_spec):
    frame = heavy_frame(make_frame, "log")
    scaler = load_task(make_spec(frame, transforms={"y0": "log"}), frame).scaler
    with pytest.raises(DataError) as err:
        scaler.transform(np.array([[2.0], [-1.0], [3.0]]), np.array([0, 1, 1]))
    message = str(err.value)
    assert "'y0' has transform log" in message and "series 's1'" in message and "-1 at position [1]" in message
    assert "asinh" in message
    with pytest.raises(DataError, match="series 's0'"):
        scaler.transform(torch.zeros(2, 3, 1), 0)


def test_when_an_intervention_is_transformed_then_bounds_are_checked_on_raw_values(make_frame, make_spec):
    frame = make_frame(n=80, series=2, intervention=1)
    frame["u0"] = np.round(np.abs(frame["u0"]) * 4) + 1  # replicas-like, 1 .. ~15
    spec = make_spec(frame, context=12, horizon=4, transforms={"u0": "log"}, intervention_bounds={"u0": [1, 16]})
    task = load_task(spec, frame)
    history = frame.groupby("series").head(60)
    future = frame.groupby("series").nth(list(range(60, 64)))[["timestamp", "series", "u0"]].copy()
    future["u0"] = 16.0  # at the raw upper bound: allowed (log 16 = 2.77 would be inside too)
    request = task.predict_batch(history, future)
    expected = (np.log(16.0) - task.scaler.mean["intervention"][1]) / task.scaler.std["intervention"][1]
    np.testing.assert_allclose(request.batch["future_control"][1].numpy(), np.full((4, 1), expected), rtol=1e-6)
    future["u0"] = 17.0
    with pytest.raises(PlanError, match=r"leaves its bounds .* allowed \[1, 16\]"):
        task.predict_batch(history, future)


def test_when_serialised_with_transforms_then_the_scaler_round_trips(make_frame, make_spec):
    frame = heavy_frame(make_frame, "log1p")
    scaler = load_task(make_spec(frame, transforms={"y0": "log1p"}), frame).scaler
    raw = json.loads(json.dumps(scaler.to_dict()))
    assert raw["transforms"] == {"y0": "log1p"}
    again = StandardScaler.from_dict(raw)
    assert again.transforms == {"y0": "log1p"}
    values = np.linspace(0, 1e4, 50)[:, None]
    np.testing.assert_array_equal(again.transform(values, 1), scaler.transform(values, 1))
    old = {k: v for k, v in raw.items() if k != "transforms"}  # written before transforms existed
    assert StandardScaler.from_dict(old).channel_transforms("target") == ["identity"]
    with pytest.raises(CheckpointError, match="unknown transform 'log2'"):
        StandardScaler.from_dict({**raw, "transforms": {"y0": "log2"}})


def test_when_a_transform_is_identity_then_scaling_is_unchanged(make_frame, make_spec):
    frame = make_frame(n=120, series=2, known_future=1)
    plain = load_task(make_spec(frame), frame)
    identity = load_task(make_spec(frame, transforms={"y0": "identity"}), frame)
    assert identity.scaler.transforms == {} and identity.spec.transforms == {"y0": "identity"}
    for role in ("target", "known_future"):
        np.testing.assert_array_equal(identity.scaler.mean[role], plain.scaler.mean[role])
    np.testing.assert_array_equal(identity.dataset("train")[5]["past_target"], plain.dataset("train")[5]["past_target"])


def test_when_fitted_then_the_plausible_range_is_the_widened_train_range(make_frame, make_spec):
    frame = make_frame(n=200, series=2)
    task = load_task(make_spec(frame), frame)
    scaler = task.scaler
    train_end = task.parts(0)["train"].end
    raw = task.series[0].values["target"][:train_end]
    low, high = scaler.plausible_range(np.array([0]), "target", margin=0.5)
    width = np.nanmax(raw, 0) - np.nanmin(raw, 0)
    assert np.allclose(low[0], np.nanmin(raw, 0) - 0.5 * width)
    assert np.allclose(high[0], np.nanmax(raw, 0) + 0.5 * width)
    again = StandardScaler.from_dict(json.loads(json.dumps(scaler.to_dict())))
    assert np.allclose(again.plausible_range(np.array([0]))[1], scaler.plausible_range(np.array([0]))[1])
    old = {k: v for k, v in scaler.to_dict().items() if k not in ("low", "high")}  # written before ranges
    assert np.isinf(StandardScaler.from_dict(old).plausible_range(np.array([0]))[1]).all()
