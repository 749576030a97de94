"""KernelSynth draws: finite, reproducible per series, and true to their kernels."""

from __future__ import annotations

import numpy as np
import torch

from pipelines.pretrain.kernelsynth import STATIONARY, kernelsynth, kernelsynth_frame, sample_path


def test_when_series_are_drawn_then_they_are_finite_and_series_i_does_not_depend_on_how_many():
    few, names = kernelsynth(3, length=128, seed=7)
    many, more_names = kernelsynth(6, length=128, seed=7)
    assert np.isfinite(many).all() and few.shape == (3, 128)
    np.testing.assert_array_equal(few, many[:3])
    assert names == more_names[:3] and not np.array_equal(many[3], many[4])


def test_when_the_kernel_is_periodic_then_the_path_repeats_with_its_period():
    T = 256
    _, kernel = next(k for k in STATIONARY if k[0] == "periodic(24)")
    lags = np.abs(np.arange(T)[:, None] - np.arange(T)[None, :])
    path = sample_path(np.random.default_rng(0), kernel(np.arange(T) / T, T)[lags])
    assert np.abs(path[24:] - path[:-24]).max() < 1e-2 * np.abs(path).max()


def test_when_the_frame_is_made_then_each_series_carries_its_kernel():
    frame = kernelsynth_frame(2, 64, seed=1)
    assert len(frame) == 128 and frame.groupby("series_id")["kernel"].nunique().eq(1).all()
    assert frame["timestamp"].isna().all() and frame["step"].max() == 63


def test_when_torch_runs_on_more_threads_then_the_draws_are_the_same_and_its_setting_is_kept():
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        many, _ = kernelsynth(2, length=512, seed=4)
        assert torch.get_num_threads() == 2
        torch.set_num_threads(1)
        one, _ = kernelsynth(2, length=512, seed=4)
    finally:
        torch.set_num_threads(threads)
    np.testing.assert_array_equal(many, one)
