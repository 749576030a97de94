"""Windows of a loaded task cut back into the frames a user passes to a query (tsloop/query/frames.py)."""

from __future__ import annotations

import pandas as pd
import pytest

from tests.data.conftest import _make_frame, _make_spec
from tsloop.data.task import load_task
from tsloop.query.frames import example_window, needs_future, window_frames

CONTEXT, HORIZON = 24, 6


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return _make_frame(n=240, series=2, known_future=1, intervention=1, past_exog=1, event=1, static=1)


@pytest.fixture(scope="module")
def task(frame):
    return load_task(_make_spec(frame, context=CONTEXT, horizon=HORIZON), frame=frame)


def _rows(frame: pd.DataFrame, series: str, start: int, stop: int) -> pd.DataFrame:
    return frame[frame.series == series].iloc[start:stop].reset_index(drop=True)


def test_when_a_window_is_cut_then_history_future_and_truth_are_the_logged_rows(frame, task):
    history, future, truth = window_frames(task, series_index=1, start=50)
    mid = 50 + CONTEXT
    columns = list(frame.columns)
    pd.testing.assert_frame_equal(history[columns], _rows(frame, "s1", 50, mid), check_dtype=False)
    pd.testing.assert_frame_equal(truth[columns], _rows(frame, "s1", mid, mid + HORIZON), check_dtype=False)
    assert len(future) == HORIZON and future["timestamp"].equals(truth["timestamp"])


def test_when_a_window_is_cut_then_the_future_holds_only_what_is_known_ahead(task):
    _, future, _ = window_frames(task, series_index=0, start=0)
    assert sorted(future.columns) == ["k0", "series", "timestamp", "u0"]  # no target, past exog, event, static


def test_when_the_example_window_is_asked_for_then_it_is_the_first_window_of_that_part(task):
    for part in ("train", "val", "test"):
        bounds = task.parts(0)[part]
        history, _, truth = example_window(task, part)
        first = task.series[0].time[bounds.start]
        assert history["timestamp"].iloc[0] == pd.Timestamp(first)
        assert truth["timestamp"].iloc[-1] <= pd.Timestamp(task.series[0].time[bounds.end - 1])


def test_when_a_task_has_no_known_future_or_intervention_columns_then_a_query_needs_no_future_frame(frame):
    assert needs_future(_make_spec(frame))
    plain = _make_frame(n=50, past_exog=1)
    assert not needs_future(_make_spec(plain))
