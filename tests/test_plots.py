"""Plots: a spike cannot flatten the axis, and a figure is written whole or not at all."""

from __future__ import annotations

import numpy as np
import pytest

from tsloop.plots import plt, robust_limits, save_figure


def test_when_a_spike_is_drawn_then_robust_limits_keep_the_bulk_readable():
    values = np.concatenate([np.linspace(0.0, 1.0, 96), [1e4] * 4])  # a spike of 4 % of the points
    low, high = robust_limits(values, share=0.9)
    assert low < 0.05 and 1.0 < high < 10.0


def test_when_a_figure_is_saved_then_only_the_final_file_exists(tmp_path):
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    path = save_figure(fig, tmp_path / "a.png")
    assert path.read_bytes()[:4] == b"\x89PNG" and [p.name for p in tmp_path.iterdir()] == ["a.png"]


def test_when_saving_fails_then_no_partial_file_is_left(tmp_path, monkeypatch):
    fig, _ = plt.subplots()
    monkeypatch.setattr(fig, "savefig", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("disk")))
    with pytest.raises(RuntimeError):
        save_figure(fig, tmp_path / "b.png")
    assert list(tmp_path.iterdir()) == []
