"""Plan frames: a plan sets every intervention and nothing else; known-future values come from --future."""

from __future__ import annotations

import pandas as pd
import pytest

from tsloop.data.spec import TaskSpec
from tsloop.errors import PlanError
from tsloop.query.whatif import plan_frame

SPEC = TaskSpec(target=["latency"], known_future=["temp"], intervention=["replicas"], freq="1h",
                context_length=4, horizon=2, series_id="s")
TIMES = pd.date_range("2024-01-01", periods=2, freq="h")


def test_when_a_plan_and_a_future_frame_are_given_then_the_plan_wins_its_columns():
    plan = pd.DataFrame({"timestamp": TIMES, "s": "a", "replicas": [8, 9]})
    future = pd.DataFrame({"timestamp": TIMES, "s": "a", "replicas": [1, 1], "temp": [20.0, 21.0]})
    merged = plan_frame(SPEC, "up", plan, future)
    assert merged["replicas"].tolist() == [8, 9] and merged["temp"].tolist() == [20.0, 21.0]


def test_when_a_plan_names_an_unknown_column_then_the_error_suggests_the_close_one():
    plan = pd.DataFrame({"timestamp": TIMES, "s": "a", "replica": [8, 9]})
    with pytest.raises(PlanError, match=r"plan 'up' has column\(s\) \['replica'\].*Did you mean 'replicas'"):
        plan_frame(SPEC, "up", plan, None)


def test_when_a_plan_lacks_an_intervention_then_the_error_names_it():
    with pytest.raises(PlanError, match=r"lacks intervention column\(s\) \['replicas'\]"):
        plan_frame(SPEC, "up", pd.DataFrame({"timestamp": TIMES, "s": "a"}), None)
