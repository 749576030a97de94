"""TelemetryTask: loading from files or frames, summaries, fingerprints."""

from __future__ import annotations

import json

from tsloop.data.task import load_task


def test_when_a_task_is_loaded_then_summary_lists_roles_parts_and_fingerprint(epf_np_task):
    summary = json.loads(json.dumps(epf_np_task.summary()))
    assert summary["rows"] == 52416 and summary["series"] == 1
    assert summary["roles"]["known_future"] == [" Grid load forecast", " Wind power forecast"]
    assert summary["parts"]["val"] == {"rows": 5242, "windows": 5242 - 24 + 1}
    assert len(summary["fingerprint"]) == 64
    text = epf_np_task.describe()
    assert "known_future  ' Grid load forecast', ' Wind power forecast'" in text and "36,691 rows" in text


def test_when_data_or_spec_change_then_the_fingerprint_changes(make_frame, make_spec):
    frame = make_frame(n=60, series=2)
    spec = make_spec(frame)
    first = load_task(spec, frame).fingerprint()
    assert load_task(spec, frame.copy()).fingerprint() == first
    changed = frame.copy()
    changed.loc[59, "y0"] += 1e-9
    assert load_task(spec, changed).fingerprint() != first
    assert load_task(make_spec(frame, horizon=7), frame).fingerprint() != first


def test_when_given_a_spec_and_a_frame_then_the_frame_is_used(make_frame, make_spec):
    frame = make_frame(n=60, series=3, known_future=1)
    task = load_task(make_spec(frame), frame)
    assert task.series_ids == ["s0", "s1", "s2"] and task.dims.known_future == 1
    assert len(task.dataset("train")) == 3 * (42 - 24 - 6 + 1)
