"""Forecast queries as functions: draws come from the seed alone, and a pyfunc frame splits in two."""

from __future__ import annotations

import pandas as pd
import torch

from tsloop.data.spec import TaskSpec
from tsloop.query.forecast import noise, split_frame


def test_when_the_seed_is_the_same_then_the_draws_are_the_same():
    a, b, c = (noise(2, 3, 4, 5, seed) for seed in (7, 7, 8))
    assert a.shape == (3, 2, 4, 5) and torch.equal(a, b) and not torch.equal(a, c)


def test_when_a_frame_holds_history_then_horizon_rows_they_are_split_per_series():
    spec = TaskSpec(target=["y"], known_future=["k"], freq="1h", context_length=3, horizon=2, series_id="s")
    frame = pd.DataFrame({"s": ["a"] * 5 + ["b"] * 5, "y": range(10), "k": range(10)})
    history, future = split_frame(spec, frame)
    assert history["y"].tolist() == [0, 1, 2, 5, 6, 7] and future["y"].tolist() == [3, 4, 8, 9]


def test_when_the_task_has_no_future_inputs_then_no_future_frame_is_returned():
    spec = TaskSpec(target=["y"], freq="1h", context_length=3, horizon=2)
    history, future = split_frame(spec, pd.DataFrame({"y": range(5)}))
    assert len(history) == 3 and future is None
