"""GluonTS conversion: entries carry the documented fields, and the round trip keeps every value."""

from __future__ import annotations

import numpy as np
import pytest

from tsloop.data.gluonts_io import from_gluonts, to_gluonts
from tsloop.data.task import load_task


def assert_same_values(task, again) -> None:
    assert again.series_ids == task.series_ids
    for a, b in zip(task.series, again.series):
        np.testing.assert_array_equal(a.time, b.time)
        for role in a.values:
            np.testing.assert_array_equal(a.values[role], b.values[role])


@pytest.mark.parametrize("multivariate", [True, False])
def test_when_a_real_task_goes_to_gluonts_and_back_then_values_are_identical(smap_task, multivariate):
    entries = to_gluonts(smap_task, multivariate=multivariate)
    spec, frame = from_gluonts(entries, spec=smap_task.spec)
    assert_same_values(smap_task, load_task(spec, frame))


def test_when_a_multi_series_task_is_exported_then_fields_follow_the_roles(make_frame, make_spec):
    frame = make_frame(n=80, series=2, targets=2, past_exog=1, known_future=1, intervention=2, event=1, static=1)
    frame.loc[5, "y1"] = np.nan
    task = load_task(make_spec(frame), frame)
    entries = to_gluonts(task, part="train")
    assert [e["item_id"] for e in entries] == ["s0", "s1"]
    first = entries[0]
    assert first["target"].shape == (2, 56)  # train rows: int(80 * 0.7)
    assert first["feat_dynamic_real"].shape == (3, 56)  # known_future + interventions
    assert first["past_feat_dynamic_real"].shape == (2, 56)  # past_exog + events
    assert first["feat_static_real"].tolist() == [0.0] and str(first["start"]) == "2024-01-01 00:00"
    univariate = to_gluonts(task, multivariate=False)
    assert [(e["item_id"], e["target_name"]) for e in univariate][:2] == [("s0", "y0"), ("s0", "y1")]
    assert_same_values(task, load_task(*from_gluonts(univariate, spec=task.spec)))


def test_when_no_spec_is_given_then_columns_are_named_after_their_fields(epf_np_task):
    spec, frame = from_gluonts(to_gluonts(epf_np_task, part="test"), context_length=168, horizon=24)
    assert spec.target == ["target_0"] and spec.known_future == ["feat_dynamic_real_0", "feat_dynamic_real_1"]
    assert len(frame) == 10483 + 168 and spec.freq == "h"
    np.testing.assert_array_equal(frame["target_0"].to_numpy(), epf_np_task.series[0].values["target"][-len(frame):, 0])
