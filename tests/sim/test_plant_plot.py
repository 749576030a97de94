"""The data card's example figure is written whole or not at all."""

from __future__ import annotations

from pathlib import Path

import pytest
from matplotlib.figure import Figure

from tsloop.errors import TsloopError
from tsloop.sim.plant.plot import plot_example


def test_when_saving_the_example_figure_fails_mid_file_then_no_partial_png_is_left(tmp_path, monkeypatch):
    def half_then_full_disk(self, fname, *args, **kwargs):
        Path(fname).write_bytes(b"half a png")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Figure, "savefig", half_then_full_disk)
    with pytest.raises(TsloopError, match="No space left on device"):
        plot_example(tmp_path / "plant_example.png")
    assert list(tmp_path.iterdir()) == []
