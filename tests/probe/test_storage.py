"""Probe runs round-trip through a file that loads with weights_only=True."""

from __future__ import annotations

import numpy as np

from tsloop.probe.evaluate import ProbeRun
from tsloop.probe.scores import Prediction
from tsloop.probe.storage import load_run, save_run


def test_when_a_probe_run_is_saved_then_loading_gives_the_same_arrays_and_keys(tmp_path):
    a = np.arange(8.0).reshape(2, 1, 2, 2)
    pred = Prediction(a, a + 1, a + 2, a > 3)
    run = ProbeRun(truth={}, predictions={("imagined", "ridge"): pred}, thresholds={("imagined", "ridge"): np.ones(1)},
                   targets=["y"], events=["e"], patch_len=2, chosen={"ridge": {"alpha": np.float64(0.5)}}, sizes={"n": 2})
    save_run(run, tmp_path / "run.pt")
    back = load_run(tmp_path / "run.pt")
    got = back.predictions[("imagined", "ridge")]
    assert isinstance(back, ProbeRun) and np.array_equal(got.event, a > 3) and got.event.dtype == bool
    assert back.chosen == {"ridge": {"alpha": 0.5}} and back.patch_len == 2
